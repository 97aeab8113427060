/**
 * The weights of a traced model by their role, for the trainer's warm start
 * (media/trainer/warm_start.py reads them): which tensor fills which role, in which layout,
 * and the architecture facts the trainer must copy (LayerNorm placement and epsilon, GELU
 * kind, token types, output head). Every linear weight leaves as [out, in] (torch.nn.Linear's
 * layout); query weights and biases carry the model's score scale relative to 1/√(d/H), which
 * the trainer applies. A model the trainer cannot represent is refused naming the part.
 */
import { InputError } from '../errors';
import { halfToFloat } from '../runtime/halfFloat';
import type { ModelShape } from '../planner/cost';
import type { ActivationKind, LayerNormPart, LinearPart } from './anatomyParts';
import type { ModelAnatomy } from './anatomyTypes';
import { elementCount, rawBytes } from './graphValues';
import type { TensorRef } from './graphValues';
import { ElemType } from './model';
import type { OnnxGraph } from './model';

export const weightsFormat = 'attention-reuse/weights@1';

export interface WarmStartArchitecture {
  norm: 'post' | 'pre';
  layerNormEpsilon: number;
  activation: ActivationKind;
  /** Rows of the token-type table; 0 when the model has none. */
  tokenTypes: number;
  head: 'mlm' | 'linear';
  tiedOutput: boolean;
}

/** The model's sizes, as the cost model and the config name them. */
export type WarmStartDims = ModelShape;

/** Where one role's values come from: a tensor (transposed to [out, in] where needed, scaled), or a constant fill. */
export type RoleSource = { ref: TensorRef; transpose: boolean; scale: number } | { fill: number };

export interface RolePlan {
  role: string;
  shape: number[];
  source: RoleSource;
}

export interface WarmStartPlan {
  dims: WarmStartDims;
  architecture: WarmStartArchitecture;
  roles: RolePlan[];
  notes: string[];
}

/** Every tensor of `plan` held as external data: the caller reads their bytes. */
export function externalRefs(plan: WarmStartPlan): string[] {
  return plan.roles.flatMap((r) => ('ref' in r.source && r.source.ref.storage === 'external' ? [r.source.ref.name] : []));
}

/**
 * What fills every role of the trainer's model, from the anatomy; throws an InputError naming
 * each part the trainer cannot take (untraced, or of a kind it has no counterpart for).
 */
export function planWarmStart(anatomy: ModelAnatomy, label: string): WarmStartPlan {
  const refusals: string[] = anatomy.missing.map((m) => `${m.layer === undefined ? '' : `layer ${m.layer} `}${m.part}: ${m.why}`);
  const refuse = (why: string) => refusals.push(why);
  const roles: RolePlan[] = [];
  const notes: string[] = [];
  const epsilons: number[] = [];
  const emb = anatomy.embeddings;
  const word = emb?.word;
  const hidden = word?.table.dims[1] ?? 0;
  const linear = (role: string, part: LinearPart | null, out: number, inp: number, scale = 1) => {
    if (!part) return;
    if (part.outFeatures !== out || part.inFeatures !== inp)
      refuse(`${role} is ${part.inFeatures} → ${part.outFeatures}, expected ${inp} → ${out}`);
    roles.push({
      role: `${role}.weight`,
      shape: [out, inp],
      source: { ref: part.weight, transpose: part.orientation === 'in-out', scale },
    });
    roles.push({ role: `${role}.bias`, shape: [out], source: part.bias ? { ref: part.bias, transpose: false, scale } : { fill: 0 } });
  };
  const norm = (role: string, part: LayerNormPart | null) => {
    if (!part) return;
    epsilons.push(part.epsilon);
    roles.push({
      role: `${role}.scale`,
      shape: [hidden],
      source: part.scale ? { ref: part.scale, transpose: false, scale: 1 } : { fill: 1 },
    });
    roles.push({ role: `${role}.bias`, shape: [hidden], source: part.bias ? { ref: part.bias, transpose: false, scale: 1 } : { fill: 0 } });
  };
  const table = (role: string, ref: TensorRef) => roles.push({ role, shape: ref.dims, source: { ref, transpose: false, scale: 1 } });

  if (word) table('embeddings.word', word.table);
  if (emb && !emb.position) refuse('embeddings.position: no position embedding table (the trainer has learned absolute positions)');
  if (emb?.position) table('embeddings.position', emb.position.table);
  if (emb?.tokenType) table('embeddings.tokenType', emb.tokenType.table);
  if (emb && !emb.norm) refuse('embeddings.norm: no LayerNorm after the embeddings (the trainer has one)');
  norm('embeddings.norm', emb?.norm ?? null);

  const first = anatomy.layers[0]?.attention;
  const heads = first?.heads ?? 0;
  const ffn = anatomy.layers[0]?.ffn?.up.outFeatures ?? 0;
  const kinds = new Set<string>();
  const activations = new Set<ActivationKind>();
  anatomy.layers.forEach((layer, l) => {
    const at = `layers.${l}`;
    const a = layer.attention;
    if (layer.norm) kinds.add(layer.norm);
    if (!a) return;
    if (a.heads !== heads) refuse(`layer ${l} has ${a.heads} heads, layer 0 ${heads}`);
    if (a.mask?.perHead) refuse(`layer ${l} adds a per-head bias to its scores (${a.mask.node}), which the trainer has no weights for`);
    const headDim = hidden / Math.max(1, heads);
    // The trainer scales scores by 1/√(d/H); the model's own factor goes into the queries.
    const factor = (a.scale?.factor ?? 1) * Math.sqrt(headDim);
    if (Math.abs(factor - 1) > 1e-6)
      notes.push(
        `layer ${l}: the model scales scores by ${a.scale?.factor ?? 1}; its queries are scaled by ${factor.toPrecision(6)} so that 1/√(d/H) gives the same scores`,
      );
    linear(`${at}.attention.query`, a.query, hidden, hidden, factor);
    linear(`${at}.attention.key`, a.key, hidden, hidden);
    linear(`${at}.attention.value`, a.value, hidden, hidden);
    linear(`${at}.attention.output`, a.output, hidden, hidden);
    norm(`${at}.attentionNorm`, layer.attentionNorm);
    if (layer.ffn) {
      linear(`${at}.ffn.up`, layer.ffn.up, ffn, hidden);
      linear(`${at}.ffn.down`, layer.ffn.down, hidden, ffn);
      if (layer.ffn.activation) activations.add(layer.ffn.activation.kind);
    }
    norm(`${at}.ffnNorm`, layer.ffnNorm);
  });
  if (kinds.size > 1) refuse('the layers mix post-LN and pre-LN');
  if (activations.size > 1) refuse(`the feed-forward blocks use ${[...activations].join(' and ')}; the trainer has one activation`);

  const head = anatomy.head;
  const vocab = word?.table.dims[0] ?? 0;
  if (head?.kind === 'mlm') {
    linear('head.dense', head.dense, hidden, hidden);
    norm('head.norm', head.norm);
    if (activations.size === 1 && !activations.has(head.activation.kind))
      refuse(
        `the output head uses ${head.activation.kind}, the feed-forward blocks ${[...activations][0]}; the trainer has one activation`,
      );
  }
  if (head) {
    const d = head.decoder;
    if (d.outFeatures !== vocab || d.inFeatures !== hidden)
      refuse(`head.decoder is ${d.inFeatures} → ${d.outFeatures}, expected ${hidden} → ${vocab}`);
    if (!head.tied)
      roles.push({
        role: 'head.decoder.weight',
        shape: [vocab, hidden],
        source: { ref: d.weight, transpose: d.orientation === 'in-out', scale: 1 },
      });
    roles.push({ role: 'head.decoder.bias', shape: [vocab], source: d.bias ? { ref: d.bias, transpose: false, scale: 1 } : { fill: 0 } });
  }
  // A float32 epsilon read back as a double (9.99999996e-13): seven digits give the number the exporter wrote.
  const eps = Number((epsilons[0] ?? 1e-12).toPrecision(7));
  if (epsilons.some((e) => Math.abs(e - eps) > 1e-3 * eps))
    notes.push(`LayerNorm epsilons differ (${[...new Set(epsilons)].join(', ')}); the trainer uses ${eps} everywhere`);
  for (const r of roles) {
    if ('ref' in r.source && ![ElemType.float, ElemType.float16, ElemType.bfloat16, ElemType.double].includes(r.source.ref.elemType as 1)) {
      refuse(`${r.role} (${r.source.ref.name}) is not a float tensor`);
    }
  }
  if (refusals.length > 0) {
    throw new InputError(
      `${label} cannot be a warm start for the trainer: ${refusals.slice(0, 6).join('; ')}${refusals.length > 6 ? `; and ${refusals.length - 6} more` : ''}`,
      'initFrom',
    );
  }
  return {
    dims: { layers: anatomy.layers.length, heads, hidden, ffn, vocab, maxPositions: emb!.position!.table.dims[0] },
    architecture: {
      norm: [...kinds][0] as 'post' | 'pre',
      layerNormEpsilon: eps,
      activation: [...activations][0] ?? 'gelu-erf',
      tokenTypes: emb?.tokenType?.table.dims[0] ?? 0,
      head: head!.kind,
      tiedOutput: head!.tied,
    },
    roles,
    notes,
  };
}

/** A weight's values as float32, from its initializer, Constant value or external bytes. */
function floatArray(g: OnnxGraph, ref: TensorRef, external: Map<string, Uint8Array>): Float32Array {
  const t = g.constants.get(ref.name);
  const raw = ref.storage === 'external' ? external.get(ref.name) : t ? rawBytes(t) : undefined;
  const count = elementCount(ref.dims);
  if (!raw) throw new InputError(`the values of ${ref.name} cannot be read`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(count);
  const size = ref.elemType === ElemType.double ? 8 : ref.elemType === ElemType.float ? 4 : 2;
  if (raw.byteLength < count * size) throw new InputError(`${ref.name} holds ${raw.byteLength} bytes for ${count} values`);
  for (let i = 0; i < count; i++) {
    if (ref.elemType === ElemType.float) out[i] = view.getFloat32(i * 4, true);
    else if (ref.elemType === ElemType.double) out[i] = view.getFloat64(i * 8, true);
    else if (ref.elemType === ElemType.float16) out[i] = halfToFloat(view.getUint16(i * 2, true));
    else out[i] = new Float32Array(new Uint32Array([view.getUint16(i * 2, true) << 16]).buffer)[0]; // bfloat16: the top half of a float32
  }
  return out;
}

/** The values of one role, in the trainer's layout. */
export function roleValues(g: OnnxGraph, plan: RolePlan, external: Map<string, Uint8Array>): Float32Array {
  const count = elementCount(plan.shape);
  if ('fill' in plan.source) return new Float32Array(count).fill(plan.source.fill);
  const { ref, transpose, scale } = plan.source;
  const values = floatArray(g, ref, external);
  if (values.length !== count) throw new InputError(`${ref.name} has ${values.length} values for ${plan.role} [${plan.shape}]`);
  if (!transpose && scale === 1) return values;
  const out = new Float32Array(count);
  const [rows, cols] = plan.shape;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < (cols ?? 1); c++)
      out[r * (cols ?? 1) + c] = (transpose ? values[c * rows + r] : values[r * (cols ?? 1) + c]) * scale;
  }
  return out;
}
