// Published reference figures per engine profile (see types.ts and src/engine/README.md, "Profiles").

import { LLAMA_3_1_70B_H100_TP4 } from './llama-3.1-70b-h100-tp4.ts';
import { LLAMA_3_1_8B_H100 } from './llama-3.1-8b-h100.ts';
import type { Reference } from './types.ts';

export type { ClosedLoopWorkload, PoissonWorkload, Reference, ReferencePoint, ReferenceSource } from './types.ts';

export const REFERENCES: Readonly<Record<string, Reference>> = {
  [LLAMA_3_1_8B_H100.profile]: LLAMA_3_1_8B_H100,
  [LLAMA_3_1_70B_H100_TP4.profile]: LLAMA_3_1_70B_H100_TP4,
};

export function referenceFor(profile: string): Reference | undefined {
  return REFERENCES[profile];
}
