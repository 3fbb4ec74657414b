import type { ManifestValidator, ManifestWrite } from './api';

/**
 * The validators extensions contributed, run by the manifest write path (manifest-store.ts) before the index
 * changes. They run one after another in registration order and the first refusal wins, so a writer sees one
 * clear reason; a validator's error is thrown to the writer as is.
 */
export class ManifestValidators {
  #validators: ManifestValidator[] = [];

  /** Adds `validator`; the returned function removes it (a stopped or replaced extension). */
  add(validator: ManifestValidator): () => void {
    this.#validators = [...this.#validators, validator];
    return () => {
      this.#validators = this.#validators.filter((v) => v !== validator);
    };
  }

  get empty(): boolean {
    return this.#validators.length === 0;
  }

  async check(write: ManifestWrite): Promise<void> {
    for (const validator of this.#validators) await validator(write);
  }
}
