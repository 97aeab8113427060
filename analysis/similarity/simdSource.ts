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
 * Rows. `scanRows` checks every row (finite, non-negative, summing to 1 within a tolerance)
 * and sums, per head, the fixed-point total (so that Σ|a - b| above is exact for the rounded
 * values), ‖row - uniform‖₁ and the entropy -Σ v·ln v in f64 (see `scanVector` for the logarithm).
 */
import { CAUSAL_ZERO_TOLERANCE } from './inputScan';
import type { WasmFunction, WasmModuleSource } from './wasmAssembler';

/** Probabilities become integers in units of 2⁻³¹. */
export const fixedPointScale = 2 ** 31;
/** First heads and second heads per pair block. */
export const blockRows = 3;
export const blockCols = 2;

const i32 = 'i32' as const;
const v128 = 'v128' as const;
const f64 = 'f64' as const;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** i8x16.shuffle byte lanes for 32-bit lanes `lanes` of the two operands (0-3 first, 4-7 second). */
const shuffle32 = (lanes: number[]): string => `i8x16.shuffle ${lanes.flatMap((l) => range(4).map((b) => l * 4 + b)).join(' ')}`;

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
        ${range(R).map((i) => `local.get ${acc(i, j)} local.get $va${i} local.get $vb i32x4.min_u i32x4.add local.set ${acc(i, j)}`).join('\n        ')}`,
    )
    .join('');
  return {
    name: `pairs_${R}x${C}`,
    // Exported so that the benchmark can time the block loop alone.
    exported: true,
    params: [['pa', i32], ['pb', i32], ['stride', i32], ['span', i32], ['o', i32], ['os', i32]],
    locals: [['end', i32], ['sum', f64], ['t', v128], ['t2', v128], ...accs.map((a): [string, 'v128'] => [a.slice(1), v128]), ...range(R).map((i): [string, 'v128'] => [`va${i}`, v128]), ['vb', v128]],
    body: `
    local.get $pb local.get $span i32.add local.set $end
    ${accs.map((a) => `v128.const i32x4 0 0 0 0 local.set ${a}`).join('\n    ')}
    loop $vector
      ${range(R).map((i) => `local.get $pa v128.load offset=${i * 16} local.set $va${i}`).join('\n      ')}
      ${step}
      local.get $pa local.get $stride i32.add local.set $pa
      local.get $pb local.get $stride i32.add local.tee $pb
      local.get $end i32.lt_u br_if $vector
    end
    ${range(R)
      .map((i) => (i === 0 ? '' : 'local.get $o local.get $os i32.add local.set $o') + flushRow(range(C).map((j) => acc(i, j)), '$o'))
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
  params: [['input', i32], ['n', i32], ['q', i32], ['k', i32], ['p', i32], ['headBegin', i32], ['rows', i32]],
  locals: [['a', i32], ['src', i32], ['srcEnd', i32], ['dst', i32], ['stride', i32], ['mask', v128]],
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
        block $wideDone
          loop $wide
            local.get $b i32.const ${C} i32.add local.get $n i32.gt_u br_if $wideDone
            ${call(r, C, '$a', '$b')}
            local.get $b i32.const ${C} i32.add local.set $b
            br $wide
          end
        end
        block $narrowDone
          loop $narrow
            local.get $b local.get $n i32.ge_u br_if $narrowDone
            ${call(r, 1, '$a', '$b')}
            local.get $b i32.const 1 i32.add local.set $b
            br $narrow
          end
        end`;
  // Pairs inside a block of R first heads, one at a time.
  const triangle = range(R)
    .flatMap((i) => range(R).filter((j) => j > i).map((j) => [i, j]))
    .map(
      ([i, j]) => `
        local.get $a i32.const ${i} i32.add local.set $c
        local.get $a i32.const ${j} i32.add local.set $b
        ${call(1, 1, '$c', '$b')}`,
    )
    .join('');
  return {
    name: 'pairMins',
    params: [['input', i32], ['n', i32], ['q', i32], ['k', i32], ['firstBegin', i32], ['firstEnd', i32], ['out', i32], ['rows', i32], ['chunk', i32]],
    locals: [['p', i32], ['a', i32], ['b', i32], ['c', i32], ['stride', i32], ['span', i32], ['os', i32], ['rowSpan', i32], ['chunkBytes', i32], ['x0', i32], ['base', i32]],
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
      block $blocksDone
        loop $blocks
          local.get $a i32.const ${R} i32.add local.get $firstEnd i32.gt_u br_if $blocksDone
          ${triangle}
          ${sweep(R)}
          local.get $a i32.const ${R} i32.add local.set $a
          br $blocks
        end
      end
      block $singlesDone
        loop $singles
          local.get $a local.get $firstEnd i32.ge_u br_if $singlesDone
          ${sweep(1)}
          local.get $a i32.const 1 i32.add local.set $a
          br $singles
        end
      end
      local.get $x0 local.get $span i32.add local.tee $x0
      local.get $rowSpan i32.lt_u br_if $chunkLoop
      end
      local.get $p i32.const 1 i32.add local.tee $p
      local.get $q i32.lt_u br_if $row
    end`,
  };
}

const splat32 = (shape: 'i32x4' | 'f32x4', x: number | string) => `v128.const ${shape} ${x} ${x} ${x} ${x}`;
// ln m = 2·atanh(s) = s·(2 + z·(2/3 + z·(2/5 + z·(2/7 + z·2/9)))) with s = f/(2+f), z = s²,
// |s| ≤ 0.172: the first term left out is below 1e-9.
const atanhSeries = [2, 2 / 3, 2 / 5, 2 / 7, 2 / 9];
/** Constants of the row scan, set once into locals: V8 would rebuild a v128.const on every use. */
const scanConstants: Record<string, string> = {
  ...Object.fromEntries(atanhSeries.map((x, i) => [`t${i}`, splat32('f32x4', x)])),
  two: splat32('f32x4', 2), bias: splat32('i32x4', 127), mantissa: splat32('i32x4', '0x7fffff'), one: splat32('i32x4', '0x3f800000'),
  sqrt2: splat32('f32x4', Math.SQRT2), expOne: splat32('i32x4', '0x800000'), zero: splat32('i32x4', 0),
  scale: splat32('f32x4', fixedPointScale),
  four: splat32('i32x4', 4), tiny: splat32('f32x4', CAUSAL_ZERO_TOLERANCE),
};
const c = (name: keyof typeof scanConstants) => `local.get $c_${name}`;

/**
 * Row checks and per-row sums for one vector `$v` of four keys (lanes past the row zeroed,
 * `$keep` their mask). Entropy: v·ln v = ln2·(v·e) + v·ln m with v = 2^e·m,
 * m ∈ [√½, √2). v·e is exact in f64 (24-bit times 8-bit integers); ln m ∈ ±0.35 is computed
 * in f32 lanes (about 5e-8 absolute), so a row's entropy is off by at most ~1e-7.
 * Causal rows compare the lanes before `$vis` (`$lane` holds the lanes' key indices) with the
 * uniform 1/vis and the others with 0, and flag any probability beyond `tiny` past the diagonal;
 * lanes past the row are beyond it too, so they need no `$keep`.
 */
function scanVector(masked: boolean, causal: boolean): string {
  const keepLo = masked && !causal ? `local.get $keep local.get $keep ${shuffle32([0, 0, 1, 1])} v128.and` : '';
  const keepHi = masked && !causal ? `local.get $keep local.get $keep ${shuffle32([2, 2, 3, 3])} v128.and` : '';
  const uLo = causal ? `local.get $u local.get $seen local.get $seen ${shuffle32([0, 0, 1, 1])} v128.and` : 'local.get $u';
  const uHi = causal ? `local.get $u local.get $seen local.get $seen ${shuffle32([2, 2, 3, 3])} v128.and` : 'local.get $u';
  const seen = causal
    ? `
      local.get $lane local.get $visv i32x4.lt_s local.set $seen
      local.get $neg local.get $v ${c('tiny')} f32x4.gt local.get $seen v128.andnot v128.or local.set $neg
      local.get $lane ${c('four')} i32x4.add local.set $lane`
    : '';
  return `${seen}
      local.get $neg local.get $v ${c('zero')} f32x4.lt v128.or local.set $neg
      local.get $v f64x2.promote_low_f32x4 local.set $vlo
      local.get $v local.get $v ${shuffle32([2, 3, 2, 3])} f64x2.promote_low_f32x4 local.set $vhi
      local.get $sum local.get $vlo f64x2.add local.get $vhi f64x2.add local.set $sum
      local.get $fixed local.get $v ${c('scale')} f32x4.mul f32x4.nearest i32x4.trunc_sat_f32x4_u i32x4.add local.set $fixed
      local.get $uni local.get $vlo ${uLo} f64x2.sub f64x2.abs ${keepLo} f64x2.add
      local.get $vhi ${uHi} f64x2.sub f64x2.abs ${keepHi} f64x2.add local.set $uni
      ;; e and f = m - 1, exactly, from the f32 bits.
      local.get $v i32.const 23 i32x4.shr_u ${c('bias')} i32x4.sub local.set $e
      local.get $v ${c('mantissa')} v128.and ${c('one')} v128.or local.tee $m
      ${c('sqrt2')} f32x4.gt local.set $big
      local.get $m local.get $big ${c('expOne')} v128.and i32x4.sub
      ${c('one')} f32x4.sub local.set $m
      local.get $e local.get $big i32x4.sub f32x4.convert_i32x4_s local.set $e
      local.get $entE local.get $vlo local.get $e f64x2.promote_low_f32x4 f64x2.mul f64x2.add
      local.get $vhi local.get $e local.get $e ${shuffle32([2, 3, 2, 3])} f64x2.promote_low_f32x4 f64x2.mul f64x2.add local.set $entE
      local.get $m local.get $m ${c('two')} f32x4.add f32x4.div local.tee $s local.get $s f32x4.mul local.set $z
      ${c('t4')} local.get $z f32x4.mul ${c('t3')} f32x4.add local.get $z f32x4.mul ${c('t2')} f32x4.add
      local.get $z f32x4.mul ${c('t1')} f32x4.add local.get $z f32x4.mul ${c('t0')} f32x4.add local.get $s f32x4.mul
      local.get $v f32x4.mul local.set $s
      local.get $entM local.get $s f64x2.promote_low_f32x4 f64x2.add
      local.get $s local.get $s ${shuffle32([2, 3, 2, 3])} f64x2.promote_low_f32x4 f64x2.add local.set $entM`;
}

/** The vectors of one row: whole ones, then the masked tail. */
function scanRow(causal: boolean): string {
  return `
          block $full
            local.get $src local.get $srcEnd i32.ge_u br_if $full
            loop $vector
              local.get $src v128.load local.set $v
              ${scanVector(false, causal)}
              local.get $src i32.const 16 i32.add local.tee $src
              local.get $srcEnd i32.lt_u br_if $vector
            end
          end
          local.get $k i32.const 3 i32.and if
            local.get $src v128.load local.get $keep v128.and local.set $v
            ${scanVector(true, causal)}
          end`;
}

/**
 * `scanRows(input, q, k, headBegin, headEnd, tolerance, totals, uniform, entropy, causal, norm, entropyNorm) → i32`:
 * for heads a in [headBegin, headEnd) writes Σ of all values in fixed point (units of 2⁻³¹) to totals[a],
 * S(A, uniform over the keys each row sees) to uniform[a], the mean row entropy to entropy[a]
 * and the mean of row entropy × norm[visible keys] (1/ln, `inverseLogTable`; a row of one key
 * counts 1) to entropyNorm[a]. With `causal`, row p sees the first k - q + p + 1 keys. Returns
 * the first bad row as a·q + p (rows in order), or -1.
 */
const scanRows: WasmFunction = {
  name: 'scanRows',
  params: [
    ['input', i32], ['q', i32], ['k', i32], ['headBegin', i32], ['headEnd', i32], ['tolerance', f64], ['totals', i32], ['uniform', i32], ['entropy', i32],
    ['causal', i32], ['norm', i32], ['entropyNorm', i32],
  ],
  result: i32,
  exported: true,
  locals: [
    ['a', i32], ['p', i32], ['src', i32], ['srcEnd', i32], ['vis', i32], ['rowSum', f64], ['total', f64], ['rowEntropy', f64], ['entropySum', f64], ['normSum', f64],
    ['v', v128], ['keep', v128], ['neg', v128], ['sum', v128], ['fixed', v128], ['uni', v128], ['entE', v128], ['entM', v128], ['u', v128],
    ['vlo', v128], ['vhi', v128], ['e', v128], ['m', v128], ['big', v128], ['s', v128], ['z', v128], ['lane', v128], ['visv', v128], ['seen', v128],
    ...Object.keys(scanConstants).map((name): [string, 'v128'] => [`c_${name}`, v128]),
  ],
  body: `
    ${Object.entries(scanConstants).map(([name, value]) => `${value} local.set $c_${name}`).join('\n    ')}
    v128.const i32x4 0 1 2 3 local.get $k i32.const 3 i32.and i32x4.splat i32x4.lt_s local.set $keep
    local.get $headBegin local.set $a
    block $done
      local.get $a local.get $headEnd i32.ge_u br_if $done
      loop $head
        v128.const i32x4 0 0 0 0 local.set $uni
        f64.const 0 local.tee $total local.tee $entropySum local.set $normSum
        i32.const 0 local.set $p
        loop $row
          v128.const i32x4 0 0 0 0 local.tee $neg local.tee $fixed local.tee $sum local.tee $entE local.set $entM
          ;; Keys this row sees: all, or for causal rows those up to its own position.
          local.get $k local.get $q i32.sub local.get $p i32.add i32.const 1 i32.add local.get $k local.get $causal select local.set $vis
          f64.const 1 local.get $vis f64.convert_i32_u f64.div f64x2.splat local.set $u
          local.get $vis i32x4.splat local.set $visv
          v128.const i32x4 0 1 2 3 local.set $lane
          local.get $input local.get $a local.get $q i32.mul local.get $p i32.add local.get $k i32.mul i32.const 4 i32.mul i32.add local.tee $src
          local.get $k i32.const -4 i32.and i32.const 4 i32.mul i32.add local.set $srcEnd
          local.get $causal if
            ${scanRow(true)}
          else
            ${scanRow(false)}
          end
          local.get $sum f64x2.extract_lane 0 local.get $sum f64x2.extract_lane 1 f64.add local.set $rowSum
          ;; Written so that NaN fails; a negative value (or one beyond a causal diagonal) fails even when the sum is fine.
          local.get $rowSum f64.const 1 f64.sub f64.abs local.get $tolerance f64.le i32.eqz
          local.get $neg v128.any_true i32.or if
            local.get $a local.get $q i32.mul local.get $p i32.add return
          end
          ;; A good row's fixed-point sum is below 2³², so the u32 lanes add without overflow.
          local.get $fixed local.get $fixed local.get $fixed ${shuffle32([2, 3, 2, 3])} i32x4.add local.tee $fixed
          local.get $fixed local.get $fixed ${shuffle32([1, 1, 1, 1])} i32x4.add f64x2.convert_low_i32x4_u f64x2.extract_lane 0
          local.get $total f64.add local.set $total
          ;; 0 - Σ rather than a negation, so that a one-hot row reads +0 as in the reference.
          f64.const 0
          local.get $entE f64x2.extract_lane 0 local.get $entE f64x2.extract_lane 1 f64.add f64.const ${Math.LN2} f64.mul
          local.get $entM f64x2.extract_lane 0 local.get $entM f64x2.extract_lane 1 f64.add f64.add
          f64.sub local.tee $rowEntropy
          local.get $entropySum f64.add local.set $entropySum
          local.get $normSum
          local.get $rowEntropy local.get $norm local.get $vis i32.const 8 i32.mul i32.add f64.load f64.mul
          f64.const 1 local.get $vis i32.const 1 i32.gt_u select
          f64.add local.set $normSum
          local.get $p i32.const 1 i32.add local.tee $p
          local.get $q i32.lt_u br_if $row
        end
        local.get $totals local.get $a i32.const 8 i32.mul i32.add local.get $total f64.store
        local.get $uniform local.get $a i32.const 8 i32.mul i32.add
        f64.const 1 local.get $uni f64x2.extract_lane 0 local.get $uni f64x2.extract_lane 1 f64.add local.get $q f64.convert_i32_u f64.const 2 f64.mul f64.div f64.sub f64.store
        local.get $entropy local.get $a i32.const 8 i32.mul i32.add local.get $entropySum local.get $q f64.convert_i32_u f64.div f64.store
        local.get $entropyNorm local.get $a i32.const 8 i32.mul i32.add local.get $normSum local.get $q f64.convert_i32_u f64.div f64.store
        local.get $a i32.const 1 i32.add local.tee $a
        local.get $headEnd i32.lt_u br_if $head
      end
    end
    i32.const -1`,
};

/** The whole module; `shared` for a memory that worker threads share. */
export function simdKernelSource(shared: boolean, R = blockRows, C = blockCols): WasmModuleSource {
  const shapes = new Set([`${R}x${C}`, `${R}x1`, `1x${C}`, '1x1']);
  return {
    memory: { initialPages: 1, maximumPages: 65536, shared },
    functions: [gather, pairMins(R, C), scanRows, ...[...shapes].map((s) => pairBlock(Number(s.split('x')[0]), Number(s.split('x')[1])))],
  };
}
