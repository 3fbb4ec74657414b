/** berth's public API: the app factory for embedding and tests, and the extension API. */
export { createApp, type AppOptions, type BerthApp } from './app';
export * from './extensions/api';
export { RegistryError, defineRegistryError } from './registry/errors';
