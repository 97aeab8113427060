/**
 * Images as a vision model's input, from bytes: PNG decoded by pngjs and JPEG by jpeg-js (pure
 * JavaScript, so nothing native is installed), then prepared as a Hugging Face image processor
 * prepares them (ViTImageProcessor and kin): resize, center crop, rescale, normalise, as
 * channels-first float values. The resize is bilinear with half-pixel centres and no
 * antialiasing (PIL antialiases when it shrinks, so values differ slightly from transformers'
 * where an image is made much smaller); every resample the config names is done so, and
 * `resolvePreprocess` says so in a note.
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../errors';

/** An image's pixels: 8-bit RGB, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** How an image becomes the model's input, resolved from a preprocessor config and flags. */
export interface ImagePreprocess {
  /** Resize first: to height × width, or the shorter edge to `shortestEdge` (aspect kept); null: as it is. */
  resize: { height: number; width: number } | { shortestEdge: number } | null;
  /** Then cut the centre height × width; null: no crop. */
  crop: { height: number; width: number } | null;
  /** Multiply the 0–255 values by this (1/255); null: keep 0–255. */
  rescale: number | null;
  /** Then (x − mean) / std per channel; null: not normalised. */
  mean: number[] | null;
  std: number[] | null;
}

/** Pixels one image may have once decoded (a 100-megapixel JPEG takes 400 MB). */
export const maxImagePixels = 50_000_000;

const isPng = (b: Uint8Array) => b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** RGBA pixels (both decoders give RGBA, grey images included) to RGB, dropping alpha as PIL's convert('RGB') does. */
function toRgb(data: Uint8Array, width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) rgb.set(data.subarray(j, j + 3), i * 3);
  return rgb;
}

/** A PNG or JPEG file's pixels; anything else, or a file its decoder cannot read, is refused naming it. */
export function decodeImage(bytes: Uint8Array, label: string): RgbImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (isPng(bytes)) {
      // The size from the IHDR chunk, before pngjs inflates pixels that may not fit in memory.
      const declared = bytes.length >= 24 ? buffer.readUInt32BE(16) * buffer.readUInt32BE(20) : 0;
      if (declared > maxImagePixels)
        throw new Error(`${buffer.readUInt32BE(16)} × ${buffer.readUInt32BE(20)} pixels is more than ${maxImagePixels}`);
      const png = PNG.sync.read(buffer);
      return { width: png.width, height: png.height, rgb: toRgb(png.data, png.width, png.height) };
    }
    if (isJpeg(bytes)) {
      const img = jpeg.decode(buffer, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxImagePixels / 1e6,
        maxMemoryUsageInMB: 1024,
      });
      return { width: img.width, height: img.height, rgb: toRgb(img.data, img.width, img.height) };
    }
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new InputError(`${label}: not a ${isPng(bytes) ? 'PNG' : 'JPEG'} image this tool can read (${why})`);
  }
  throw new InputError(`${label} is neither a PNG nor a JPEG image`);
}

/** Bilinear resampling with half-pixel centres (sample positions clamped at the edges). */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  if (width === img.width && height === img.height) return img;
  const out = new Uint8Array(width * height * 3);
  const sx = img.width / width;
  const sy = img.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => img.rgb[(yy * img.width + xx) * 3 + c];
        const top = p(y0, x0) * (1 - wx) + p(y0, x1) * wx;
        const bottom = p(y1, x0) * (1 - wx) + p(y1, x1) * wx;
        out[(y * width + x) * 3 + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width, height, rgb: out };
}

/** The centre height × width of an image (padded with black where it is smaller, as transformers pads). */
export function centerCrop(img: RgbImage, width: number, height: number): RgbImage {
  if (width === img.width && height === img.height) return img;
  const out = new Uint8Array(width * height * 3);
  const top = Math.floor((img.height - height) / 2);
  const left = Math.floor((img.width - width) / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sy, sx] = [y + top, x + left];
      if (sy >= 0 && sy < img.height && sx >= 0 && sx < img.width)
        out.set(img.rgb.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3), (y * width + x) * 3);
    }
  }
  return { width, height, rgb: out };
}

/** The image the model sees, resized and cropped, still 8-bit RGB (the attention viewer draws it). */
export function fitImage(img: RgbImage, p: ImagePreprocess): RgbImage {
  let out = img;
  if (p.resize && 'shortestEdge' in p.resize) {
    const scale = p.resize.shortestEdge / Math.min(img.width, img.height);
    out = resizeBilinear(out, Math.round(img.width * scale), Math.round(img.height * scale));
  } else if (p.resize) out = resizeBilinear(out, p.resize.width, p.resize.height);
  return p.crop ? centerCrop(out, p.crop.width, p.crop.height) : out;
}

/** The model's input values, channels first ([3, height, width]): rescaled and normalised. */
export function imageTensor(img: RgbImage, p: ImagePreprocess): { values: number[]; shape: number[] } {
  const plane = img.width * img.height;
  const values = new Array<number>(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = p.mean?.[c] ?? 0;
    const std = p.std?.[c] ?? 1;
    for (let i = 0; i < plane; i++) {
      const v = img.rgb[i * 3 + c] * (p.rescale ?? 1);
      values[c * plane + i] = p.mean || p.std ? (v - mean) / std : v;
    }
  }
  return { values, shape: [3, img.height, img.width] };
}

/** ViTImageProcessor's defaults, used for what neither a preprocessor config nor a flag says. */
const defaults = { rescale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

/** What the flags set; each overrides the config's field. */
export interface ImageFlags {
  /** Resize to height × width (and no crop). */
  imageSize?: [number, number];
  imageMean?: number[];
  imageStd?: number[];
}

type Json = Record<string, unknown>;

/** A size field of a preprocessor config: an integer (square), {height, width} or {shortest_edge}. */
function sizeField(value: unknown, field: string, label: string): ImagePreprocess['resize'] {
  const whole = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 && v <= 16384;
  if (whole(value)) return { height: value as number, width: value as number };
  const o = (value ?? {}) as Json;
  if (typeof value === 'object' && value !== null && whole(o.height) && whole(o.width))
    return { height: o.height as number, width: o.width as number };
  if (typeof value === 'object' && value !== null && whole(o.shortest_edge)) return { shortestEdge: o.shortest_edge as number };
  throw new InputError(
    `${label}: "${field}" must be a size in pixels (1 to 16384), {"height", "width"} or {"shortest_edge"} (got ${JSON.stringify(value)?.slice(0, 60)})`,
  );
}

function channels(value: unknown, field: string, label: string, positive: boolean): number[] {
  const list = typeof value === 'number' ? [value, value, value] : value;
  if (!Array.isArray(list) || list.length !== 3 || list.some((v) => typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0))) {
    throw new InputError(
      `${label}: "${field}" must be three ${positive ? 'positive ' : ''}numbers, one per RGB channel (got ${JSON.stringify(value)?.slice(0, 60)})`,
    );
  }
  return list as number[];
}

/**
 * How images become the model's input: the fields of a Hugging Face `preprocessor_config.json`
 * (`config`, parsed, `label` naming it; null when there is none), then the flags, then
 * ViTImageProcessor's defaults; the size defaults to the model's fixed height × width
 * (`modelSize`). Returns notes for what the tool does differently from transformers.
 */
export function resolvePreprocess(
  config: unknown,
  label: string,
  flags: ImageFlags,
  modelSize: [number, number] | null,
): { preprocess: ImagePreprocess; notes: string[] } {
  if (config !== null && (typeof config !== 'object' || Array.isArray(config))) throw new InputError(`${label} is not a JSON object`);
  const c = (config ?? {}) as Json;
  const flag = (v: unknown, field: string) => {
    if (v !== undefined && typeof v !== 'boolean') throw new InputError(`${label}: "${field}" must be true or false`);
    return v !== false;
  };
  const notes: string[] = [];
  let resize: ImagePreprocess['resize'] = null;
  let crop: ImagePreprocess['crop'] = null;
  if (flags.imageSize) resize = { height: flags.imageSize[0], width: flags.imageSize[1] };
  else {
    if (flag(c.do_resize, 'do_resize')) {
      resize = c.size !== undefined ? sizeField(c.size, 'size', label) : modelSize ? { height: modelSize[0], width: modelSize[1] } : null;
      if (!resize)
        throw new InputError(`${label}: the model does not fix its image size and the config gives no "size": give {field}`, 'imageSize');
    }
    if (c.do_center_crop === true) crop = sizeField(c.crop_size ?? c.size, 'crop_size', label) as ImagePreprocess['crop'];
    if (crop && 'shortestEdge' in crop) throw new InputError(`${label}: "crop_size" must be a height and width`);
  }
  if (typeof c.resample === 'number' && c.resample !== 2)
    notes.push(`${label} asks for resample ${c.resample}; images are resized bilinearly`);
  const rescale = flag(c.do_rescale, 'do_rescale') ? (c.rescale_factor === undefined ? defaults.rescale : Number(c.rescale_factor)) : null;
  if (rescale !== null && !(Number.isFinite(rescale) && rescale > 0))
    throw new InputError(`${label}: "rescale_factor" must be a positive number`);
  const normalize = flag(c.do_normalize, 'do_normalize') || flags.imageMean !== undefined || flags.imageStd !== undefined;
  const mean = normalize
    ? (flags.imageMean ?? (c.image_mean === undefined ? defaults.mean : channels(c.image_mean, 'image_mean', label, false)))
    : null;
  const std = normalize
    ? (flags.imageStd ?? (c.image_std === undefined ? defaults.std : channels(c.image_std, 'image_std', label, true)))
    : null;
  return { preprocess: { resize, crop, rescale, mean, std }, notes };
}

/** `224` or `224x320` (height × width): the `--image-size` flag. */
export function parseImageSize(value: string): [number, number] {
  const m = /^(\d+)(?:[x×](\d+))?$/.exec(value.trim());
  const [height, width] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
  if (!(height >= 1 && width >= 1 && height <= 16384 && width <= 16384))
    throw new InputError(`{field} must be N or HxW in pixels, 1 to 16384 (got "${value}")`, 'imageSize');
  return [height, width];
}

/** `0.5,0.5,0.5` (or one number for all three channels): `--image-mean` and `--image-std`. */
export function parseChannels(value: string, field: 'imageMean' | 'imageStd'): number[] {
  const parts = value.split(',').map((s) => Number(s.trim()));
  const list = parts.length === 1 ? [parts[0], parts[0], parts[0]] : parts;
  if (list.length !== 3 || list.some((v) => !Number.isFinite(v) || (field === 'imageStd' && v <= 0)) || value.trim() === '') {
    throw new InputError(
      `{field} must be three ${field === 'imageStd' ? 'positive ' : ''}numbers separated by commas, one per RGB channel (got "${value}")`,
      field,
    );
  }
  return list;
}

/** "resized to 224×224, rescaled by 1/255, normalised (mean 0.5, 0.5, 0.5; std 0.5, 0.5, 0.5)": for a note. */
export function describePreprocess(p: ImagePreprocess): string {
  const steps: string[] = [];
  if (p.resize)
    steps.push(
      'shortestEdge' in p.resize ? `shorter edge resized to ${p.resize.shortestEdge}` : `resized to ${p.resize.height}×${p.resize.width}`,
    );
  if (p.crop) steps.push(`centre ${p.crop.height}×${p.crop.width} cut`);
  if (p.rescale !== null) steps.push(p.rescale === 1 / 255 ? 'rescaled by 1/255' : `rescaled by ${p.rescale}`);
  if (p.mean && p.std) steps.push(`normalised (mean ${p.mean.join(', ')}; std ${p.std.join(', ')})`);
  return steps.length ? steps.join(', ') : 'fed as 0–255 values';
}
