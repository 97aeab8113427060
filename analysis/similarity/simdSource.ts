/**
 * The WebAssembly SIMD similarity kernel, as source text for `wasmAssembler`.
 *
 * Pairs. For rows that sum to s_a and s_b, ‖a - b‖₁ = s_a + s_b - 2·Σ_x min(a_x, b_x), so the
 * kernel sums minima and the caller adds the per-head totals that `scanRows` measures. The
 * minima are summed exactly, in integers: `gather` turns each probability into the nearest
 * multiple of 2⁻³¹ (a u32; f32 values ≥ 2⁻⁸ are exact there, smaller ones move by at most
 * 2⁻³²), and a row's minima are added with i32x4.min_u + i32x4.add (a row's Σ min ≤ 1 + the
 * row-sum tolerance < 2, so no u32 lane overflows), then in f64, where integers below 2⁵³
 * are exact. On the x64 core measured, integer min+add ran at twice the rate of f32x4 pmin+add
 * (more ports take integer vector ops), and the sums do not depend on the order of additions: any split of the pairs across threads gives
 * bit-identical results. The only error is the rounding of each value: |ΔS| ≤ k·2⁻³³ for rows
 * of k keys (1.2e-7 at k = 1024), below the 1e-6 budget of float32 inputs.
 *
 * Layout. One query row p at a time, the rows of all heads are gathered into a scratch area
 * laid out vector-major (vector x of head a at `rows + (x·N + a)·16`), so a block of heads
 * reads adjacent vectors at constant offsets. Pairs go in blocks of 3×2 (three first heads
 * against two second heads: 6 accumulators, 5 loads per 24 minima). Measured in V8 11.3 on
 * x64, 2×4 and 3×3 blocks spill accumulators to the stack and run 30-40% slower; 4×2 and 3×2
 * keep everything in the 15 usable xmm registers.
 *
 * Rows. `scanRows` (`simdScan.ts`) checks every row and sums, per head, the fixed-point total
 * that makes Σ|a - b| above exact for the rounded values, and the baselines.
 */
import { scanRows } from './simdScan';
import { f64, fixedPointScale, i32, range, shuffle32, v128 } from './simdText';
import type { WasmFunction, WasmModuleSource } from './wasmAssembler';

/** First heads and second heads per pair block. */
export const blockRows = 3;
export const blockCols = 2;

/** Adds the u32 lane sums of one first head against `cols` (1-4) second heads to the f64 out[o + j·8]. */
function flushRow(accs: string[], o: string): string {
  if (accs.length === 1) {
    const [a] = accs;
    return `
      local.get ${a} local.get ${a} local.get ${a} ${shuffle32([2, 3, 2, 3])} i32x4.add local.tee ${a}
      local.get ${a} local.get ${a} ${shuffle32([1, 1, 1, 1])} i32x4.add f64x2.convert_low_i32x4_u f64x2.extract_lane 0
      local.set $sum
      local.get ${o} local.get ${o} f64.load local.get $sum f64.add f64.store`;
  }
  // A 4×4 transpose-and-add (missing columns are zero): lane j of $t is the sum of accumulator j.
  const [a0, a1, a2, a3] = [0, 1, 2, 3].map((j) => (j < accs.length ? `local.get ${accs[j]}` : 'v128.const i32x4 0 0 0 0'));
  const pairLanes = (x: string, y: string) => `${x} ${y} ${shuffle32([0, 1, 4, 5])} ${x} ${y} ${shuffle32([2, 3, 6, 7])} i32x4.add`;
  let code = `
      ${pairLanes(a0, a1)} local.set $t
      ${pairLanes(a2, a3)} local.set $t2
      local.get $t local.get $t2 ${shuffle32([0, 2, 4, 6])} local.get $t local.get $t2 ${shuffle32([1, 3, 5, 7])} i32x4.add local.set $t
      local.get ${o}
      local.get ${o} v128.load local.get $t f64x2.convert_low_i32x4_u f64x2.add
      v128.store`;
  if (accs.length === 3) {
    code += `
      local.get ${o}
      local.get ${o} f64.load offset=16 local.get $t local.get $t ${shuffle32([2, 3, 2, 3])} f64x2.convert_low_i32x4_u f64x2.extract_lane 0 f64.add
      f64.store offset=16`;
  } else if (accs.length === 4) {
    code += `
      local.get ${o}
      local.get ${o} v128.load offset=16 local.get $t local.get $t ${shuffle32([2, 3, 2, 3])} f64x2.convert_low_i32x4_u f64x2.add
      v128.store offset=16`;
  }
  return code;
}

/**
 * `pairs_RxC(pa, pb, stride, span, o, os)`: Σ over one gathered query row of min(a, b) for
 * first heads at pa, pa+16, … (R of them) and second heads at pb, pb+16, … (C), added
 * to the f64 out at o + i·os + j·8. `stride` is the byte step between a head's vectors
 * (N·16), `span` the bytes of one row's vectors (vectors·stride).
 */
function pairBlock(R: number, C: number): WasmFunction {
  const acc = (i: number, j: number) => `$acc${i}_${j}`;
  const accs = range(R).flatMap((i) => range(C).map((j) => acc(i, j)));
  const step = range(C)
    .map(
      (j) => `
        local.get $pb v128.load offset=${j * 16} local.set $vb
        ${range(R)
          .map((i) => `local.get ${acc(i, j)} local.get $va${i} local.get $vb i32x4.min_u i32x4.add local.set ${acc(i, j)}`)
          .join('\n        ')}`,
    )
    .join('');
  return {
    name: `pairs_${R}x${C}`,
    // Exported so that the benchmark can time the block loop alone.
    exported: true,
    params: [
      ['pa', i32],
      ['pb', i32],
      ['stride', i32],
      ['span', i32],
      ['o', i32],
      ['os', i32],
    ],
    locals: [
      ['end', i32],
      ['sum', f64],
      ['t', v128],
      ['t2', v128],
      ...accs.map((a): [string, 'v128'] => [a.slice(1), v128]),
      ...range(R).map((i): [string, 'v128'] => [`va${i}`, v128]),
      ['vb', v128],
    ],
    body: `
    local.get $pb local.get $span i32.add local.set $end
    ${accs.map((a) => `v128.const i32x4 0 0 0 0 local.set ${a}`).join('\n    ')}
    loop $vector
      ${range(R)
        .map((i) => `local.get $pa v128.load offset=${i * 16} local.set $va${i}`)
        .join('\n      ')}
      ${step}
      local.get $pa local.get $stride i32.add local.set $pa
      local.get $pb local.get $stride i32.add local.tee $pb
      local.get $end i32.lt_u br_if $vector
    end
    ${range(R)
      .map(
        (i) =>
          (i === 0 ? '' : 'local.get $o local.get $os i32.add local.set $o') +
          flushRow(
            range(C).map((j) => acc(i, j)),
            '$o',
          ),
      )
      .join('\n')}`,
  };
}

/** f32x4 probabilities → u32 multiples of 2⁻³¹, to nearest (exact scaling, then rounding). */
const quantize = `v128.const f32x4 ${fixedPointScale} ${fixedPointScale} ${fixedPointScale} ${fixedPointScale} f32x4.mul f32x4.nearest i32x4.trunc_sat_f32x4_u`;

/**
 * `gather(input, n, q, k, p, headBegin, rows)`: copies query row p of heads headBegin..n-1
 * into the vector-major scratch as fixed-point integers, zeroing the lanes past k.
 */
const gather: WasmFunction = {
  name: 'gather',
  params: [
    ['input', i32],
    ['n', i32],
    ['q', i32],
    ['k', i32],
    ['p', i32],
    ['headBegin', i32],
    ['rows', i32],
  ],
  locals: [
    ['a', i32],
    ['src', i32],
    ['srcEnd', i32],
    ['dst', i32],
    ['stride', i32],
    ['mask', v128],
  ],
  body: `
    local.get $n i32.const 16 i32.mul local.set $stride
    ;; Lanes 0 .. (k mod 4)-1 of the last vector are keys; with k mod 4 = 0 it is not read.
    v128.const i32x4 0 1 2 3 local.get $k i32.const 3 i32.and i32x4.splat i32x4.lt_s local.set $mask
    local.get $headBegin local.set $a
    block $done
      local.get $a local.get $n i32.ge_u br_if $done
      loop $head
        local.get $input local.get $a local.get $q i32.mul local.get $p i32.add local.get $k i32.mul i32.const 4 i32.mul i32.add local.tee $src
        local.get $k i32.const -4 i32.and i32.const 4 i32.mul i32.add local.set $srcEnd
        local.get $rows local.get $a i32.const 16 i32.mul i32.add local.set $dst
        block $full
          local.get $src local.get $srcEnd i32.ge_u br_if $full
          loop $vector
            local.get $dst local.get $src v128.load ${quantize} v128.store
            local.get $dst local.get $stride i32.add local.set $dst
            local.get $src i32.const 16 i32.add local.tee $src
            local.get $srcEnd i32.lt_u br_if $vector
          end
        end
        local.get $k i32.const 3 i32.and if
          local.get $dst local.get $src v128.load local.get $mask v128.and ${quantize} v128.store
        end
        local.get $a i32.const 1 i32.add local.tee $a
        local.get $n i32.lt_u br_if $head
      end
    end`,
};

/**
 * WAT: `wide` for $x = its value, +width, … while x + width ≤ end, then `one` for each x left
 * before end, one at a time. The loops' labels are named after x, so that two can nest.
 */
function stepped(x: string, end: string, width: number, wide: string, one: string): string {
  return `
        block $${x}WideDone
          loop $${x}Wide
            local.get $${x} i32.const ${width} i32.add local.get ${end} i32.gt_u br_if $${x}WideDone
            ${wide}
            local.get $${x} i32.const ${width} i32.add local.set $${x}
            br $${x}Wide
          end
        end
        block $${x}OneDone
          loop $${x}One
            local.get $${x} local.get ${end} i32.ge_u br_if $${x}OneDone
            ${one}
            local.get $${x} i32.const 1 i32.add local.set $${x}
            br $${x}One
          end
        end`;
}

/**
 * `pairMins(input, n, q, k, firstBegin, firstEnd, out, rows, chunk)`: for every pair a < b with
 * a in [firstBegin, firstEnd), adds Σ_p Σ_x min(A_a[p,x], A_b[p,x]) to the f64 out[a·n + b].
 * Each gathered row is swept `chunk` vectors at a time, so that the part of the scratch a
 * sweep reads stays in L1 for long rows (integer sums: the chunking changes no result).
 */
function pairMins(R: number, C: number): WasmFunction {
  const call = (r: number, c: number, a: string, b: string) => `
          local.get $base local.get ${a} i32.const 16 i32.mul i32.add
          local.get $base local.get ${b} i32.const 16 i32.mul i32.add
          local.get $stride local.get $span
          local.get $out local.get ${a} local.get $n i32.mul local.get ${b} i32.add i32.const 8 i32.mul i32.add
          local.get $os call $pairs_${r}x${c}`;
  // One row of blocks: first heads a..a+r-1 against every later head, C at a time.
  const sweep = (r: number) => `
        local.get $a i32.const ${r} i32.add local.set $b
        ${stepped('b', '$n', C, call(r, C, '$a', '$b'), call(r, 1, '$a', '$b'))}`;
  // Pairs inside a block of R first heads, one at a time.
  const triangle = range(R)
    .flatMap((i) =>
      range(R)
        .filter((j) => j > i)
        .map((j) => [i, j]),
    )
    .map(
      ([i, j]) => `
        local.get $a i32.const ${i} i32.add local.set $c
        local.get $a i32.const ${j} i32.add local.set $b
        ${call(1, 1, '$c', '$b')}`,
    )
    .join('');
  return {
    name: 'pairMins',
    params: [
      ['input', i32],
      ['n', i32],
      ['q', i32],
      ['k', i32],
      ['firstBegin', i32],
      ['firstEnd', i32],
      ['out', i32],
      ['rows', i32],
      ['chunk', i32],
    ],
    locals: [
      ['p', i32],
      ['a', i32],
      ['b', i32],
      ['c', i32],
      ['stride', i32],
      ['span', i32],
      ['os', i32],
      ['rowSpan', i32],
      ['chunkBytes', i32],
      ['x0', i32],
      ['base', i32],
    ],
    exported: true,
    body: `
    local.get $firstBegin local.get $firstEnd i32.ge_u if return end
    local.get $n i32.const 16 i32.mul local.set $stride
    local.get $k i32.const 3 i32.add i32.const 2 i32.shr_u local.get $stride i32.mul local.set $rowSpan
    local.get $chunk i32.const 1 local.get $chunk i32.const 1 i32.gt_u select local.get $stride i32.mul local.set $chunkBytes
    local.get $n i32.const 8 i32.mul local.set $os
    loop $row
      local.get $input local.get $n local.get $q local.get $k local.get $p local.get $firstBegin local.get $rows call $gather
      i32.const 0 local.set $x0
      loop $chunkLoop
      local.get $chunkBytes local.get $rowSpan local.get $x0 i32.sub local.tee $span
      local.get $chunkBytes local.get $span i32.lt_u select local.set $span
      local.get $rows local.get $x0 i32.add local.set $base
      local.get $firstBegin local.set $a
      ${stepped('a', '$firstEnd', R, triangle + sweep(R), sweep(1))}
      local.get $x0 local.get $span i32.add local.tee $x0
      local.get $rowSpan i32.lt_u br_if $chunkLoop
      end
      local.get $p i32.const 1 i32.add local.tee $p
      local.get $q i32.lt_u br_if $row
    end`,
  };
}

/** The whole module; `shared` for a memory that worker threads share. */
export function simdKernelSource(shared: boolean, R = blockRows, C = blockCols): WasmModuleSource {
  const shapes = new Set([`${R}x${C}`, `${R}x1`, `1x${C}`, '1x1']);
  return {
    memory: { initialPages: 1, maximumPages: 65536, shared },
    functions: [gather, pairMins(R, C), scanRows, ...[...shapes].map((s) => pairBlock(Number(s.split('x')[0]), Number(s.split('x')[1])))],
  };
}
