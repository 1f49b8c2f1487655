type RouteShape = { method: string; path: string };

export type RouteMatch<R extends RouteShape> =
  | { kind: 'found'; route: R; params: Record<string, string> }
  | { kind: 'method_not_allowed'; pattern: string; allow: string[] }
  | { kind: 'not_found' };

type Node<R> = {
  statics: Map<string, Node<R>>;
  param?: { name: string; node: Node<R> };
  routes: Map<string, R>;
  pattern?: string;
};

const paramSegment = /^:[A-Za-z_][A-Za-z0-9_]*$/;

const newNode = <R>(): Node<R> => ({ statics: new Map(), routes: new Map() });

/**
 * A segment trie. Static segments win over parameters (`/channels/new` before `/channels/:id`), and a
 * path that exists under other methods answers 405 with the methods it has.
 */
export class Router<R extends RouteShape> {
  private readonly root = newNode<R>();

  constructor(routes: readonly R[]) {
    for (const route of routes) this.add(route);
  }

  match(method: string, path: string): RouteMatch<R> {
    if (!path.startsWith('/')) return { kind: 'not_found' };
    const nodes: { node: Node<R>; params: Record<string, string> }[] = [];
    collect(this.root, path.slice(1).split('/'), 0, {}, nodes);
    if (nodes.length === 0) return { kind: 'not_found' };
    for (const { node, params } of nodes) {
      // HEAD is answered by the GET handler, without the body, unless a route declares HEAD itself.
      const route = node.routes.get(method) ?? (method === 'HEAD' ? node.routes.get('GET') : undefined);
      if (route) return { kind: 'found', route, params };
    }
    const allow = new Set<string>();
    for (const { node } of nodes) {
      for (const declared of node.routes.keys()) allow.add(declared);
      if (node.routes.has('GET')) allow.add('HEAD');
    }
    return { kind: 'method_not_allowed', pattern: nodes[0]?.node.pattern ?? path, allow: [...allow].sort() };
  }

  private add(route: R): void {
    if (!route.path.startsWith('/')) throw new Error(`route ${route.path}: must start with /`);
    const segments = route.path.slice(1).split('/');
    const names = new Set<string>();
    let node = this.root;
    for (const [index, segment] of segments.entries()) {
      if (segment === '' && !(route.path === '/' && index === 0)) {
        throw new Error(`route ${route.path}: empty segment`);
      }
      if (segment.startsWith(':')) {
        if (!paramSegment.test(segment)) throw new Error(`route ${route.path}: bad parameter ${segment}`);
        const name = segment.slice(1);
        if (names.has(name)) throw new Error(`route ${route.path}: parameter ${name} repeated`);
        names.add(name);
        node.param ??= { name, node: newNode() };
        if (node.param.name !== name) {
          throw new Error(`route ${route.path}: parameter :${name} conflicts with :${node.param.name}`);
        }
        node = node.param.node;
      } else {
        let next = node.statics.get(segment);
        if (!next) {
          next = newNode();
          node.statics.set(segment, next);
        }
        node = next;
      }
    }
    if (node.routes.has(route.method)) throw new Error(`route ${route.method} ${route.path}: declared twice`);
    node.routes.set(route.method, route);
    node.pattern = route.path;
  }
}

/** Depth-first, static before parameter, so `nodes` lists the candidates most specific first. */
function collect<R>(
  node: Node<R>,
  segments: string[],
  index: number,
  params: Record<string, string>,
  nodes: { node: Node<R>; params: Record<string, string> }[],
): void {
  const segment = segments[index];
  if (segment === undefined) {
    if (node.routes.size > 0) nodes.push({ node, params });
    return;
  }
  const fixed = node.statics.get(segment);
  if (fixed) collect(fixed, segments, index + 1, params, nodes);
  if (node.param && segment !== '') {
    const value = decode(segment);
    if (value !== undefined) {
      collect(node.param.node, segments, index + 1, { ...params, [node.param.name]: value }, nodes);
    }
  }
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
