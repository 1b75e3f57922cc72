// Server-side prepared statements for the write connections: a statement text
// that comes back (the set-based batch writes send the same text every batch,
// their rows in array parameters) gets a name, and node-postgres then parses it
// once per connection and only binds and executes it afterwards. Postgres skips
// the parse and, once its generic plan proves no costlier, the planning: for the
// check-in batch that planning cost more than its execution (measured in
// bench/README.md). Texts seen once stay unnamed, and the number of names is
// capped, so statements whose text varies (IN lists of any length) cannot grow
// the per-connection statement memory without bound.

/** Most distinct statement texts given a name (each is prepared at most once per pooled connection). */
export const maxNamedStatements = 256;
/** Texts seen once and remembered, waiting for a second sighting; forgotten wholesale when this many pile up. */
const maxCandidates = 4_096;

export interface StatementConfig {
  text: string;
  name?: string | undefined;
}

export class StatementNames {
  private readonly names = new Map<string, string>();
  private readonly candidates = new Set<string>();

  constructor(
    private readonly prefix = "fb",
    private readonly limit = maxNamedStatements,
  ) {}

  /** The config to send: `config` itself, or a copy carrying the text's name. Only statements with parameters are named. */
  name<C extends StatementConfig>(config: C, values: readonly unknown[] | undefined): C {
    if (config.name !== undefined || values === undefined || values.length === 0) return config;
    let name = this.names.get(config.text);
    if (name === undefined) {
      if (this.names.size >= this.limit) return config;
      if (!this.candidates.has(config.text)) {
        if (this.candidates.size >= maxCandidates) this.candidates.clear();
        this.candidates.add(config.text);
        return config;
      }
      this.candidates.delete(config.text);
      name = `${this.prefix}${this.names.size}`;
      this.names.set(config.text, name);
    }
    return { ...config, name };
  }

  get size(): number {
    return this.names.size;
  }
}
