// Minimal typings for the parts of autocannon 9 the bench uses (the package ships none).
declare module 'autocannon' {
  export interface RequestParams { method?: string; path?: string; headers?: Record<string, string>; body?: string }
  export interface Options {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    pipelining?: number;
    headers?: Record<string, string>;
    requests?: (RequestParams & { setupRequest?: (req: RequestParams) => RequestParams })[];
  }
  export interface Histogram { average: number; mean: number; p50: number; p90: number; p97_5: number; p99: number; max: number }
  export interface Result {
    requests: Histogram & { total: number; sent: number };
    latency: Histogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
