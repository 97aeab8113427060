// The machine's busy CPU time, so each benchmark figure can say how much other processes used meanwhile.
import { readFileSync } from 'node:fs';

/** Busy CPU seconds of the whole machine so far (/proc/stat, all cores). */
export function machineBusySeconds() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}
