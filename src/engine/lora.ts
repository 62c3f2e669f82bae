// LoRA adapters, as vLLM serves them: --lora-modules at start, POST /v1/load_lora_adapter and
// /v1/unload_lora_adapter at run time (vLLM needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True for those; the simulator
// always allows them), listed by /v1/models with their base model as `parent`. A request names an adapter in its
// `model` field. The scheduler keeps at most --max-loras distinct adapters in the running batch; requests for other
// adapters wait (scheduler.ts). Adapters cost no memory or time here: vLLM's LoRA kernels add a few percent per step.

import { ApiError, badRequest } from './errors.ts';
import type { LoraModule } from './options.ts';

export interface LoraAnswer {
  status: number;
  /** vLLM answers successful (un)loads with plain text. */
  text: string;
}

export class LoraRegistry {
  private readonly modules = new Map<string, LoraModule>();
  private readonly reserved: ReadonlySet<string>;

  /** `reserved`: the served model names, which an adapter may not take. */
  constructor(modules: readonly LoraModule[], reserved: readonly string[]) {
    this.reserved = new Set(reserved);
    for (const m of modules) this.modules.set(m.name, m);
  }

  has(name: string): boolean {
    return this.modules.has(name);
  }

  names(): string[] {
    return [...this.modules.keys()];
  }

  list(): LoraModule[] {
    return [...this.modules.values()];
  }

  /** POST /v1/load_lora_adapter {lora_name, lora_path}. */
  load(body: unknown): LoraAnswer {
    const b = (body && typeof body === 'object' ? body : {}) as { lora_name?: unknown; lora_path?: unknown; base_model_name?: unknown };
    if (typeof b.lora_name !== 'string' || !b.lora_name || typeof b.lora_path !== 'string' || !b.lora_path) {
      throw badRequest("Both 'lora_name' and 'lora_path' must be provided.");
    }
    const name = b.lora_name;
    if (this.modules.has(name) || this.reserved.has(name)) {
      throw new ApiError(400, `The lora adapter '${name}' has already been loaded.`, null, 'InvalidUserInput');
    }
    this.modules.set(name, { name, path: b.lora_path, ...(typeof b.base_model_name === 'string' ? { baseModelName: b.base_model_name } : {}) });
    return { status: 200, text: `Success: LoRA adapter '${name}' added successfully.` };
  }

  /** POST /v1/unload_lora_adapter {lora_name}. */
  unload(body: unknown): LoraAnswer {
    const b = (body && typeof body === 'object' ? body : {}) as { lora_name?: unknown };
    if (typeof b.lora_name !== 'string' || !b.lora_name) {
      throw badRequest("'lora_name' needs to be provided to unload a LoRA adapter.");
    }
    if (!this.modules.delete(b.lora_name)) {
      throw new ApiError(404, `The lora adapter '${b.lora_name}' cannot be found.`, null, 'NotFoundError');
    }
    return { status: 200, text: `Success: LoRA adapter '${b.lora_name}' removed successfully.` };
  }
}
