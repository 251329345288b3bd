declare module 'parse-prometheus-text-format' {
  /** One sample (counter, gauge, untyped) or one histogram/summary series, as prom2json writes it. */
  export interface ParsedMetric {
    readonly labels?: Readonly<Record<string, string>>;
    readonly value?: string;
    readonly buckets?: Readonly<Record<string, string>>;
    readonly quantiles?: Readonly<Record<string, string>>;
    readonly count?: string;
    readonly sum?: string;
  }
  /** One metric family. */
  export interface ParsedFamily {
    readonly name: string;
    readonly help: string;
    readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    readonly metrics: readonly ParsedMetric[];
  }
  /** Parses the Prometheus text exposition format. */
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
