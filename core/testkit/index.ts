/**
 * berth's test kit for extension authors (`berth/testkit`): a berth in the test's own process with a config
 * and extension objects, and images built in memory and pushed over HTTP. Works with any test runner.
 */
export { startBerth, type StartOptions, type TestBerth } from './start';
export {
  buildImage, pushBlob, pushImage, pushManifest, sha256, OCI_MANIFEST, PushError, type ImageOptions, type PushAuth, type TestImage,
} from './image';
