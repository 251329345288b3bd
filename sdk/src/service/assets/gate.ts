/**
 * The service's admission gate for asset manifests: job submissions that name a manifest
 * pass it together (shared), and a garbage collection's manifest deletions pass it alone
 * (exclusive). A waiting collection goes before submissions that arrive after it, so a
 * steady stream of submissions cannot hold it off.
 */
export class AdmissionGate {
  private readers = 0;
  private writer = false;
  private writersWaiting = 0;
  private waiting: (() => void)[] = [];

  /** Runs `fn` beside other shared holders, never beside an exclusive one. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer || this.writersWaiting > 0) await this.wait();
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  /** Runs `fn` alone: after the shared holders in progress, before those that arrive later. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.writersWaiting++;
    try {
      while (this.writer || this.readers > 0) await this.wait();
    } finally {
      this.writersWaiting--;
    }
    this.writer = true;
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}
