/**
 * A progress bar on stderr, drawn only on a terminal (never with --json or when output is piped),
 * redrawn at most ten times a second so that a 100 000-line import spends no time drawing.
 */
export class ProgressBar {
  private done = 0;
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    opts: { enabled: boolean },
  ) {
    this.enabled = opts.enabled && !!process.stderr.isTTY && total > 0;
  }

  tick(n = 1): void {
    this.done += n;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = now;
    const width = 30;
    const fraction = Math.min(1, this.done / this.total);
    const filled = Math.round(fraction * width);
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${this.done}/${this.total}`,
    );
  }

  finish(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}
