// The conformance suite, unchanged, against every dataplane, in a lab on the real kernel.
import { conformanceSuite } from '../conformance/suite.ts';
import { DATAPLANE_NAMES } from '../../src/dataplanes/types.ts';

const only = process.env.KPR_DATAPLANES?.split(',');
for (const dp of DATAPLANE_NAMES) if (!only || only.includes(dp)) conformanceSuite(dp);
