/**
 * A server's /metrics as tests read it: the Prometheus text format, one sample a line, `name{labels} value`, or
 * `name value` for a metric without labels. Tests mostly compare a counter before and after what they do.
 */

/** The server's /metrics now, as text. */
export async function metricsText(t: { readonly httpPort?: number }): Promise<string> {
  return (await fetch(`http://127.0.0.1:${t.httpPort}/metrics`)).text();
}

/**
 * The value of one sample in `text`: `labels` exactly as exposed, in order (`reason="overload"`), or none for a
 * metric without labels. undefined when there is no such sample.
 */
export function sampleIn(text: string, name: string, labels?: string): number | undefined {
  const prefix = labels === undefined ? `${name} ` : `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

/** One sample of the server's /metrics now (see sampleIn). */
export async function metricOf(t: { readonly httpPort?: number }, name: string, labels?: string): Promise<number | undefined> {
  return sampleIn(await metricsText(t), name, labels);
}
