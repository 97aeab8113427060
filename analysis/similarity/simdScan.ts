/**
 * The row scan of the WebAssembly SIMD kernel, as source text for `wasmAssembler`: `scanRows`
 * checks every row (finite, non-negative, summing to 1 within a tolerance; a causal row holds
 * nothing beyond its diagonal) and sums, per head, the fixed-point total (so that the pair
 * kernel's Σ|a - b| is exact for the rounded values), the distance to the uniform distribution
 * over the keys each row sees and the entropy -Σ v·ln v in f64 (see `scanVector` for the
 * logarithm), raw and over ln(visible keys).
 */
import { CAUSAL_ZERO_TOLERANCE } from './inputScan';
import { f64, fixedPointScale, i32, shuffle32, v128 } from './simdText';
import type { WasmFunction } from './wasmAssembler';

const splat32 = (shape: 'i32x4' | 'f32x4', x: number | string) => `v128.const ${shape} ${x} ${x} ${x} ${x}`;
// ln m = 2·atanh(s) = s·(2 + z·(2/3 + z·(2/5 + z·(2/7 + z·2/9)))) with s = f/(2+f), z = s²,
// |s| ≤ 0.172: the first term left out is below 1e-9.
const atanhSeries = [2, 2 / 3, 2 / 5, 2 / 7, 2 / 9];
/** Constants of the row scan, set once into locals: V8 would rebuild a v128.const on every use. */
const scanConstants: Record<string, string> = {
  ...Object.fromEntries(atanhSeries.map((x, i) => [`t${i}`, splat32('f32x4', x)])),
  two: splat32('f32x4', 2),
  bias: splat32('i32x4', 127),
  mantissa: splat32('i32x4', '0x7fffff'),
  one: splat32('i32x4', '0x3f800000'),
  sqrt2: splat32('f32x4', Math.SQRT2),
  expOne: splat32('i32x4', '0x800000'),
  zero: splat32('i32x4', 0),
  scale: splat32('f32x4', fixedPointScale),
  four: splat32('i32x4', 4),
  tiny: splat32('f32x4', CAUSAL_ZERO_TOLERANCE),
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
export const scanRows: WasmFunction = {
  name: 'scanRows',
  params: [
    ['input', i32],
    ['q', i32],
    ['k', i32],
    ['headBegin', i32],
    ['headEnd', i32],
    ['tolerance', f64],
    ['totals', i32],
    ['uniform', i32],
    ['entropy', i32],
    ['causal', i32],
    ['norm', i32],
    ['entropyNorm', i32],
  ],
  result: i32,
  exported: true,
  locals: [
    ['a', i32],
    ['p', i32],
    ['src', i32],
    ['srcEnd', i32],
    ['vis', i32],
    ['rowSum', f64],
    ['total', f64],
    ['rowEntropy', f64],
    ['entropySum', f64],
    ['normSum', f64],
    ['v', v128],
    ['keep', v128],
    ['neg', v128],
    ['sum', v128],
    ['fixed', v128],
    ['uni', v128],
    ['entE', v128],
    ['entM', v128],
    ['u', v128],
    ['vlo', v128],
    ['vhi', v128],
    ['e', v128],
    ['m', v128],
    ['big', v128],
    ['s', v128],
    ['z', v128],
    ['lane', v128],
    ['visv', v128],
    ['seen', v128],
    ...Object.keys(scanConstants).map((name): [string, 'v128'] => [`c_${name}`, v128]),
  ],
  body: `
    ${Object.entries(scanConstants)
      .map(([name, value]) => `${value} local.set $c_${name}`)
      .join('\n    ')}
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
