/**
 * The few @vscode-elements controls the panel uses, wrapped with a label. Only these
 * components are imported, so the bundle carries nothing else of the library.
 */
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { VscodeSingleSelect } from '@vscode-elements/elements/dist/vscode-single-select/vscode-single-select.js';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield.js';
import { h } from './dom';

let nextId = 0;

export interface Choice {
  value: string;
  label: string;
}

/** A labelled single-select whose options can be replaced. */
export class SelectControl {
  readonly element: HTMLElement;
  readonly select: VscodeSingleSelect;

  constructor(label: string, name: string, onChange: (value: string) => void) {
    const id = `ctl-${name}-${nextId++}`;
    // `label` names the control inside its shadow root, where the <label for> below does not reach.
    this.select = h('vscode-single-select', { id, 'data-control': name, label }) as VscodeSingleSelect;
    this.select.addEventListener('change', () => onChange(this.select.value));
    this.element = h('div', { class: 'control' }, h('label', { for: id }, label), this.select);
  }

  setChoices(choices: Choice[], value: string): void {
    this.select.replaceChildren(...choices.map((c) => h('vscode-option', { value: c.value, selected: c.value === value }, c.label)));
    this.select.value = value;
  }

  get value(): string {
    return this.select.value;
  }

  set value(v: string) {
    this.select.value = v;
  }
}

/** A labelled number field. */
export class NumberControl {
  readonly element: HTMLElement;
  readonly field: VscodeTextfield;

  constructor(label: string, name: string, onChange: (value: number) => void) {
    const id = `ctl-${name}-${nextId++}`;
    this.field = h('vscode-textfield', { id, type: 'number', min: 0, 'data-control': name }) as VscodeTextfield;
    // A property only (no attribute): names the inner input, where the <label for> below does not reach.
    this.field.label = label;
    this.field.addEventListener('change', () => {
      const v = Number(this.field.value);
      if (Number.isInteger(v)) onChange(v);
    });
    this.element = h('div', { class: 'control' }, h('label', { for: id }, label), this.field);
  }

  setRange(min: number, max: number, value: number): void {
    this.field.min = min;
    this.field.max = max;
    this.field.value = String(value);
  }

  get value(): number {
    return Number(this.field.value);
  }
}

/** A labelled native range input: @vscode-elements has no slider, and P and K want one. */
export class RangeControl {
  readonly element: HTMLElement;
  readonly input: HTMLInputElement;
  private readonly output: HTMLOutputElement;
  private values: number[] = [];

  constructor(label: string, name: string, onChange: (value: number) => void) {
    const id = `ctl-${name}-${nextId++}`;
    this.input = h('input', { id, type: 'range', min: 0, max: 0, step: 1, 'data-control': name });
    this.output = h('output', { for: id });
    this.input.addEventListener('input', () => {
      const v = this.values[Number(this.input.value)];
      this.output.textContent = v === undefined ? '' : String(v);
      if (v !== undefined) onChange(v);
    });
    this.element = h('div', { class: 'control range' }, h('label', { for: id }, label), this.input, this.output);
  }

  /** The slider steps through `values` (sorted), positioned at `value`. */
  setValues(values: number[], value: number): void {
    this.values = values;
    const i = Math.max(0, values.indexOf(value));
    this.input.max = String(Math.max(0, values.length - 1));
    this.input.value = String(i);
    this.input.disabled = values.length <= 1;
    this.output.textContent = values.length ? String(values[i]) : '–';
  }
}
