import type { FieldError } from '../errors/catalogue.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import { ExpressionError, expressionVariables, parseExpression } from './expression.ts';
import type { FlowDefinition, FlowNode } from './flowDefinition.ts';
import { secretPrefix } from './flowSecrets.ts';
import { templateVariables } from './interpolate.ts';

/** A problem with a definition: where (a JSON pointer into it), which node, and what. */
export type FlowIssue = FieldError;

/** Names every run knows without the flow setting them (see flowScope.ts). */
export const isBuiltinVariable = (name: string): boolean =>
  name.startsWith('contact.') || builtinVariables.has(name);
const builtinVariables = new Set(['message.text', 'business.open', 'api.status', 'api.error']);

/**
 * Checks a definition before it is saved: its shape (the JSON schema), then its graph — duplicate ids,
 * targets that name no node, branches left unconnected, nodes unreachable from the start, expressions
 * that do not parse, variables nothing sets, jumps to flows and handoffs to queues or users that do
 * not exist. Returns every problem found, [] when there is none.
 */
export function validateFlow(
  definition: unknown,
  context: {
    registry: SchemaRegistry;
    flowExists: (flowId: string) => boolean;
    /** Handoff targets; unchecked when absent. */
    queueExists?: (queueId: string) => boolean;
    userExists?: (userId: string) => boolean;
  },
): FlowIssue[] {
  const shape = context.registry.validate('flow/definition', definition);
  if (shape.length > 0) return schemaIssues(shape, definition, nodeFieldsOf(context.registry));
  const flow = definition as FlowDefinition;
  const issues: FlowIssue[] = [];
  const index = new Map<string, number>();
  flow.nodes.forEach((node, i) => {
    if (index.has(node.id)) {
      issues.push({ path: `/nodes/${i}/id`, nodeId: node.id, message: `duplicate node id '${node.id}'` });
    } else index.set(node.id, i);
  });
  if (!index.has(flow.start)) issues.push({ path: '/start', message: `start '${flow.start}' is not a node` });

  const defined = definedVariables(flow);
  flow.nodes.forEach((node, i) => {
    const at = (path: string, message: string) =>
      issues.push({ path: `/nodes/${i}${path}`, nodeId: node.id, message });
    for (const target of targetsOf(node)) {
      if (target.id !== undefined && !index.has(target.id)) {
        at(target.path, `'${target.id}' is not a node of this flow`);
      }
    }
    for (const path of unconnected(node))
      at(path, 'branch left unconnected: it must name the node it goes to');
    if ((node.type === 'handoff' || node.type === 'jump_to_flow' || node.type === 'end') && node.next) {
      at('/next', `a ${node.type} node does not go on: remove next`);
    }
    if (node.type === 'question' && node.input.kind === 'choice') {
      const ids = new Set<string>();
      node.input.options.forEach((option, j) => {
        if (ids.has(option.id)) at(`/input/options/${j}/id`, `duplicate option id '${option.id}'`);
        ids.add(option.id);
      });
    }
    for (const text of textsOf(node)) {
      for (const name of templateVariables(text.value)) {
        if (name.startsWith(secretPrefix)) {
          const problem = secretProblem(name, node);
          if (problem) at(text.path, problem);
        } else if (!defined.has(name) && !isBuiltinVariable(name)) {
          at(text.path, `unknown variable {{${name}}}: no node sets it and the flow does not declare it`);
        }
      }
    }
    for (const expression of expressionsOf(node)) {
      try {
        for (const name of expressionVariables(parseExpression(expression.value))) {
          if (name.startsWith(secretPrefix)) {
            at(expression.path, `{{${name}}}: secrets can only be used in an api_call's request`);
          } else if (!defined.has(name) && !isBuiltinVariable(name)) {
            at(
              expression.path,
              `unknown variable '${name}': no node sets it and the flow does not declare it`,
            );
          }
        }
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        at(expression.path, `invalid expression: ${error.message}`);
      }
    }
    if (node.type === 'jump_to_flow' && !context.flowExists(node.flowId)) {
      at('/flowId', `no flow ${node.flowId} in this organization`);
    }
    if (node.type === 'handoff' && node.queueId && context.queueExists?.(node.queueId) === false) {
      at('/queueId', `no queue ${node.queueId} in this organization`);
    }
    if (node.type === 'handoff' && node.assigneeId && context.userExists?.(node.assigneeId) === false) {
      at('/assigneeId', `no user ${node.assigneeId} in this organization`);
    }
  });

  // Without a start, every node would be unreachable: that one problem is enough.
  const reached = index.has(flow.start) ? reachable(flow, index) : new Set(index.keys());
  flow.nodes.forEach((node, i) => {
    if (!reached.has(node.id) && index.get(node.id) === i) {
      issues.push({
        path: `/nodes/${i}`,
        nodeId: node.id,
        message: `node '${node.id}' is unreachable from the start`,
      });
    }
  });
  return issues;
}

/** Secrets go only where the flow worker fills them in, under a name a secret can have. */
function secretProblem(name: string, node: FlowNode): string | undefined {
  if (node.type !== 'api_call') return `{{${name}}}: secrets can only be used in an api_call's request`;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name.slice(secretPrefix.length))) {
    return `{{${name}}}: a secret's name is letters, digits and _ (up to 64)`;
  }
  return undefined;
}

type Located = { path: string; value: string };
type Target = { path: string; id: string | undefined };

/** Every edge out of a node, with where it is written. */
export function targetsOf(node: FlowNode): Target[] {
  const targets: Target[] = [{ path: '/next', id: node.next }];
  switch (node.type) {
    case 'question':
      targets.push({ path: '/onInvalid', id: node.onInvalid });
      if (node.timeout) targets.push({ path: '/timeout/next', id: node.timeout.next });
      if (node.input.kind === 'choice') {
        node.input.options.forEach((option, j) => {
          targets.push({ path: `/input/options/${j}/next`, id: option.next });
        });
      }
      break;
    case 'condition':
      node.branches.forEach((branch, j) => {
        targets.push({ path: `/branches/${j}/next`, id: branch.next });
      });
      targets.push({ path: '/else', id: node.else });
      break;
    case 'api_call':
      targets.push({ path: '/onError', id: node.onError });
      break;
    default:
      break;
  }
  return targets;
}

/** Branches that must say where they go: every condition branch and `else`, an api_call's error, a choice without a way on. */
function unconnected(node: FlowNode): string[] {
  switch (node.type) {
    case 'condition':
      return [
        ...node.branches.flatMap((branch, j) => (branch.next === undefined ? [`/branches/${j}/next`] : [])),
        ...(node.else === undefined ? ['/else'] : []),
      ];
    case 'api_call':
      return node.onError === undefined ? ['/onError'] : [];
    case 'question':
      if (node.input.kind !== 'choice' || node.next !== undefined) return [];
      return node.input.options.flatMap((option, j) =>
        option.next === undefined ? [`/input/options/${j}/next`] : [],
      );
    case 'handoff':
    case 'jump_to_flow':
    case 'end':
      // These never go on: a `next` here is a mistake the builder should show.
      return [];
    default:
      return [];
  }
}

function textsOf(node: FlowNode): Located[] {
  switch (node.type) {
    case 'text':
      return [{ path: '/text', value: node.text }];
    case 'media': {
      const texts = [{ path: '/media/url', value: node.media.url }];
      if (node.media.caption) texts.push({ path: '/media/caption', value: node.media.caption });
      if (node.media.filename) texts.push({ path: '/media/filename', value: node.media.filename });
      return texts;
    }
    case 'question': {
      const texts = [{ path: '/text', value: node.text }];
      if (node.retry) texts.push({ path: '/retry/text', value: node.retry.text });
      return texts;
    }
    case 'api_call': {
      const texts = [{ path: '/request/url', value: node.request.url }];
      for (const [name, value] of Object.entries(node.request.headers ?? {})) {
        texts.push({ path: `/request/headers/${pointerToken(name)}`, value });
      }
      texts.push(...stringsIn(node.request.body, '/request/body'));
      return texts;
    }
    case 'handoff':
      return node.text ? [{ path: '/text', value: node.text }] : [];
    default:
      return [];
  }
}

/** The strings of a JSON body, where interpolation applies. */
function stringsIn(value: unknown, path: string): Located[] {
  if (typeof value === 'string') return [{ path, value }];
  if (Array.isArray(value)) return value.flatMap((item, i) => stringsIn(item, `${path}/${i}`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => stringsIn(item, `${path}/${pointerToken(key)}`));
  }
  return [];
}

function expressionsOf(node: FlowNode): Located[] {
  if (node.type === 'condition') {
    return node.branches.map((branch, j) => ({ path: `/branches/${j}/when`, value: branch.when }));
  }
  if (node.type === 'assignment') {
    return Object.entries(node.set).map(([name, value]) => ({ path: `/set/${pointerToken(name)}`, value }));
  }
  return [];
}

function definedVariables(flow: FlowDefinition): Set<string> {
  const names = new Set(flow.variables ?? []);
  for (const node of flow.nodes) {
    if (node.type === 'question') names.add(node.variable);
    if (node.type === 'assignment') for (const name of Object.keys(node.set)) names.add(name);
    if (node.type === 'api_call') for (const name of Object.keys(node.map ?? {})) names.add(name);
  }
  return names;
}

function reachable(flow: FlowDefinition, index: Map<string, number>): Set<string> {
  const seen = new Set<string>();
  const todo = index.has(flow.start) ? [flow.start] : [];
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    const node = flow.nodes[index.get(id) as number] as FlowNode;
    for (const target of targetsOf(node)) {
      if (target.id !== undefined && index.has(target.id) && !seen.has(target.id)) todo.push(target.id);
    }
  }
  return seen;
}

const pointerToken = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * ajv reports a node's failed `if/then` branch three times over: the failure, "must match then", and
 * each of that branch's fields as an unevaluated property. Keep the failure, and unevaluated
 * properties no node type has (a real typo), with the node named.
 */
function schemaIssues(
  errors: FieldError[],
  definition: unknown,
  nodeFields: ReadonlySet<string>,
): FlowIssue[] {
  const isEcho = (error: FieldError) =>
    /^must match "(then|else)" schema$/.test(error.message) ||
    (error.message === 'must NOT have unevaluated properties' &&
      nodeFields.has(/^\/nodes\/\d+\/([^/]+)$/.exec(error.path)?.[1] ?? ''));
  const failing = new Set(errors.filter((e) => !isEcho(e)).map((e) => nodePath(e.path)));
  return errors
    .filter((error) => !/^must match "(then|else)" schema$/.test(error.message))
    .filter((error) => !(isEcho(error) && failing.has(nodePath(error.path))))
    .map((error) => {
      const nodeId = nodeIdAt(definition, error.path);
      return nodeId === undefined ? error : { ...error, nodeId };
    });
}

const nodePath = (path: string) => /^\/nodes\/\d+/.exec(path)?.[0] ?? path;

/** The fields some node type has, from the definition schema's per-type branches. */
function nodeFieldsOf(registry: SchemaRegistry): Set<string> {
  const schema = registry.schemas.find((candidate) => candidate.$id.endsWith('/flow/definition')) as
    | { $defs: { node: { allOf: { then: { properties: Record<string, unknown> } }[] } } }
    | undefined;
  return new Set(schema?.$defs.node.allOf.flatMap((branch) => Object.keys(branch.then.properties)) ?? []);
}

function nodeIdAt(definition: unknown, path: string): string | undefined {
  const i = /^\/nodes\/(\d+)/.exec(path)?.[1];
  if (i === undefined) return undefined;
  const node = (definition as { nodes?: unknown[] }).nodes?.[Number(i)] as { id?: unknown } | undefined;
  return typeof node?.id === 'string' ? node.id : undefined;
}
