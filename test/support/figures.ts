/** How tests print what they measured, and lists of sequence numbers in readable form. */

/** `[7-119, 130]`: runs of consecutive numbers, for readable failure messages. */
export function summarise(seqs: readonly number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < seqs.length;) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    runs.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
  }
  return `[${runs.join(', ')}]`;
}

/** One line of figures per fault, printed so CI logs and docs/reliability.md can quote them. */
export function report(fault: string, figures: Record<string, string | number>): void {
  const text = Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(`      fault figures: ${fault}: ${text}\n`);
}
