/**
 * @module sources/file
 * The manifest-folder source: `new ManifestSource({ dir, log })`.
 */
export { ManifestSource, isManifestName, type ManifestSourceOptions } from './manifest-source.ts';
