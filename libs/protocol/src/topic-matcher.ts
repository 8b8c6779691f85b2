/**
 * RabbitMQ topic-exchange matching over many patterns at once.
 *
 * Patterns are kept in one trie per exchange, as RabbitMQ's own topic exchange does, so a lookup
 * costs about the length of the routing key, not the number of patterns. `*` matches exactly one
 * word, `#` zero or more; words are split on `.`, an empty key has no words (RabbitMQ's rule).
 */
interface TrieNode {
  readonly children: Map<string, TrieNode>;
  /** The pattern that ends at this node, if any. */
  pattern: string | undefined;
  /** Patterns passing through or ending here, to prune empty branches on removal. */
  count: number;
}

const newNode = (): TrieNode => ({ children: new Map(), pattern: undefined, count: 0 });

export function splitWords(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

export class TopicMatcher {
  private readonly exchanges = new Map<string, TrieNode>();
  private total = 0;

  /** Number of (exchange, pattern) entries held. */
  get size(): number {
    return this.total;
  }

  has(exchange: string, pattern: string): boolean {
    let node = this.exchanges.get(exchange);
    for (const word of splitWords(pattern)) {
      if (!node) return false;
      node = node.children.get(word);
    }
    return node?.pattern !== undefined;
  }

  /** Adds a pattern; returns false if it was already there. */
  add(exchange: string, pattern: string): boolean {
    if (this.has(exchange, pattern)) return false;
    let node: TrieNode | undefined = this.exchanges.get(exchange);
    if (!node) this.exchanges.set(exchange, (node = newNode()));
    node.count++;
    for (const word of splitWords(pattern)) {
      let next: TrieNode | undefined = node.children.get(word);
      if (!next) node.children.set(word, (next = newNode()));
      next.count++;
      node = next;
    }
    node.pattern = pattern;
    this.total++;
    return true;
  }

  /** Removes a pattern; returns false if it was not there. */
  remove(exchange: string, pattern: string): boolean {
    if (!this.has(exchange, pattern)) return false;
    this.total--;
    const root = this.exchanges.get(exchange)!;
    if (--root.count === 0) {
      this.exchanges.delete(exchange);
      return true;
    }
    let node = root;
    for (const word of splitWords(pattern)) {
      const next = node.children.get(word)!;
      if (--next.count === 0) {
        node.children.delete(word); // the rest of the branch held only this pattern
        return true;
      }
      node = next;
    }
    node.pattern = undefined;
    return true;
  }

  /** Every (exchange, pattern) entry, for re-binding after a reconnect. */
  *entries(): IterableIterator<[exchange: string, pattern: string]> {
    for (const [exchange, root] of this.exchanges) {
      const stack = [root];
      while (stack.length > 0) {
        const node = stack.pop()!;
        if (node.pattern !== undefined) yield [exchange, node.pattern];
        for (const child of node.children.values()) stack.push(child);
      }
    }
  }

  /**
   * The patterns of `exchange` that match the routing key or any of the CC keys, each once,
   * in no particular order.
   */
  match(exchange: string, routingKey: string, ccKeys: readonly string[] = []): string[] {
    const root = this.exchanges.get(exchange);
    if (!root) return [];
    const found = new Set<string>();
    collect(root, splitWords(routingKey), found);
    for (const cc of ccKeys) collect(root, splitWords(cc), found);
    return [...found];
  }
}

function collect(root: TrieNode, words: readonly string[], found: Set<string>): void {
  // (node, position) pairs already explored: `#` can reach the same state by many paths, and
  // without this a pattern like `#.#.#.#` would make the search exponential in the key length.
  const seen = new Map<TrieNode, Set<number>>();
  const visit = (node: TrieNode, i: number): void => {
    let positions = seen.get(node);
    if (!positions) seen.set(node, (positions = new Set()));
    else if (positions.has(i)) return;
    positions.add(i);

    if (i === words.length && node.pattern !== undefined) found.add(node.pattern);
    const hash = node.children.get('#');
    if (hash) {
      // `#` consumes zero or more words.
      for (let j = i; j <= words.length; j++) visit(hash, j);
    }
    if (i < words.length) {
      const star = node.children.get('*');
      if (star) visit(star, i + 1);
      const exact = node.children.get(words[i]!);
      if (exact) visit(exact, i + 1);
    }
  };
  visit(root, 0);
}

/**
 * Whether one topic pattern matches one key (RabbitMQ's rules, as TopicMatcher applies them to
 * many patterns at once). Dynamic programming over the words: linear in pattern × key words
 * however many `#` the pattern holds.
 */
export function topicMatches(pattern: string, key: string): boolean {
  const p = splitWords(pattern);
  const k = splitWords(key);
  // reach[j]: the first i pattern words can match the first j key words.
  let reach = new Array<boolean>(k.length + 1).fill(false);
  reach[0] = true;
  for (const word of p) {
    const next = new Array<boolean>(k.length + 1).fill(false);
    for (let j = 0; j <= k.length; j++) {
      if (word === '#') next[j] = reach[j]! || (j > 0 && next[j - 1]!);
      else next[j] = j > 0 && reach[j - 1]! && (word === '*' || word === k[j - 1]);
    }
    reach = next;
  }
  return reach[k.length]!;
}
