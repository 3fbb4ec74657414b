// The digest helpers every test needs: the testkit's sha256, and the hex part of a digest (a blob's file name).
export { sha256 } from '../../core/testkit/image.js';

export const hex = (digest: string): string => digest.slice('sha256:'.length);
