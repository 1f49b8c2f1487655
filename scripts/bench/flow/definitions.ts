/**
 * The two flows of scripts/bench/flow.ts, what their customers send, and a compact printout of each
 * for the report (generated from the definitions, so it cannot drift from what ran).
 */
import type { FlowDefinition, FlowNode } from '../../../src/flow/flowDefinition.ts';

/**
 * A: "survey". Four questions; each answer takes five steps (the question resumed, a condition, an
 * assignment, a text, the next question), so a run is a trigger turn of 2 steps and 4 answer turns
 * of 5 steps (22 steps in 5 turns), then `end`. The customer's next message ("survey", a keyword
 * trigger) starts a new run.
 */
export const surveyFlow: FlowDefinition = {
  start: 'welcome',
  nodes: [
    { id: 'welcome', type: 'text', text: 'Hi {{contact.name}}! Four quick questions.', next: 'q_name' },
    {
      id: 'q_name',
      type: 'question',
      text: 'What is your name?',
      variable: 'name',
      input: { kind: 'text' },
      next: 'c_name',
    },
    {
      id: 'c_name',
      type: 'condition',
      branches: [{ when: "name contains 'bot'", next: 'a_robot' }],
      else: 'a_name',
    },
    { id: 'a_robot', type: 'assignment', set: { greeting: "'robot'" }, next: 't_name' },
    { id: 'a_name', type: 'assignment', set: { greeting: 'name' }, next: 't_name' },
    { id: 't_name', type: 'text', text: 'Nice to meet you, {{greeting}}.', next: 'q_age' },
    {
      id: 'q_age',
      type: 'question',
      text: 'How old are you?',
      variable: 'age',
      input: { kind: 'number' },
      retry: { text: 'A number, please: how old are you?', max: 2 },
      next: 'c_age',
    },
    { id: 'c_age', type: 'condition', branches: [{ when: 'age >= 18', next: 'a_adult' }], else: 'a_minor' },
    { id: 'a_adult', type: 'assignment', set: { segment: "'adult'" }, next: 't_age' },
    { id: 'a_minor', type: 'assignment', set: { segment: "'minor'" }, next: 't_age' },
    { id: 't_age', type: 'text', text: 'Noted: {{age}} ({{segment}}).', next: 'q_email' },
    {
      id: 'q_email',
      type: 'question',
      text: 'Your email?',
      variable: 'email',
      input: { kind: 'email' },
      next: 'c_email',
    },
    {
      id: 'c_email',
      type: 'condition',
      branches: [{ when: "email matches '@example[.]com$'", next: 'a_work' }],
      else: 'a_home',
    },
    { id: 'a_work', type: 'assignment', set: { work: 'true' }, next: 't_email' },
    { id: 'a_home', type: 'assignment', set: { work: 'false' }, next: 't_email' },
    { id: 't_email', type: 'text', text: 'We will write to {{email}}.', next: 'q_score' },
    {
      id: 'q_score',
      type: 'question',
      text: 'How was your last order?',
      variable: 'score',
      input: {
        kind: 'choice',
        options: [
          { id: 'good', title: 'Good' },
          { id: 'ok', title: 'OK' },
          { id: 'bad', title: 'Bad' },
        ],
      },
      next: 'c_score',
    },
    {
      id: 'c_score',
      type: 'condition',
      branches: [{ when: "score == 'good' or score == 'ok'", next: 'a_happy' }],
      else: 'a_unhappy',
    },
    { id: 'a_happy', type: 'assignment', set: { happy: 'true' }, next: 't_bye' },
    { id: 'a_unhappy', type: 'assignment', set: { happy: 'false' }, next: 't_bye' },
    { id: 't_bye', type: 'text', text: 'Thanks {{name}}, that is all.', next: 'done' },
    { id: 'done', type: 'end' },
  ],
};

/** What a survey customer sends: message m of a 5-message cycle (the first one of all triggers by default). */
export function surveyMessage(m: number): string {
  switch (m % 5) {
    case 0:
      return m === 0 ? 'hi' : 'survey';
    case 1:
      return 'Ana Souza';
    case 2:
      return '34';
    case 3:
      return 'ana.souza@example.com';
    default:
      return 'Good';
  }
}

/** Assignment/condition pairs of the compute flow: 1 + 2 × 44 + 2 = 91 steps per answer. */
export const computePairs = 44;

/**
 * B: "compute". The first message starts the run up to its question; every answer then runs the
 * question resumed, 44 assignment → condition pairs, a text, and the question again: 91 steps, under
 * FLOW_MAX_STEPS (100). Expressions have no arithmetic, so the "loop" is unrolled into a chain.
 */
export const computeFlow: FlowDefinition = {
  start: 'intro',
  nodes: [
    { id: 'intro', type: 'text', text: 'Send anything to run the computation.', next: 'q_go' },
    {
      id: 'q_go',
      type: 'question',
      text: 'Go?',
      variable: 'go',
      input: { kind: 'text' },
      next: 'a1',
    },
    ...Array.from({ length: computePairs }, (_, index): FlowNode[] => {
      const i = index + 1;
      const after = i === computePairs ? 't_done' : `a${i + 1}`;
      return [
        { id: `a${i}`, type: 'assignment', set: { flag: 'not flag', level: `'${i}'` }, next: `c${i}` },
        {
          id: `c${i}`,
          type: 'condition',
          branches: [{ when: "flag and go != ''", next: after }],
          else: after,
        },
      ];
    }).flat(),
    { id: 't_done', type: 'text', text: 'Done: {{flag}} at level {{level}}.', next: 'q_go' },
  ],
};

export const computeMessage = (m: number): string => (m === 0 ? 'hi' : `go ${m}`);

/** The bare scenario's customers send the survey's messages, to an actor without a bot. */
export const bareMessage = surveyMessage;

const short = (text: string, max = 40) => JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
const to = (next: string | undefined) => (next === undefined ? '' : ` → ${next}`);

/** One line per node. */
function nodeLine(node: FlowNode): string {
  switch (node.type) {
    case 'text':
      return `${node.id}: text ${short(node.text)}${to(node.next)}`;
    case 'question': {
      const input =
        node.input.kind === 'choice'
          ? `choice[${node.input.options.map((option) => option.id).join('|')}]`
          : node.input.kind;
      return `${node.id}: question ${input} → {{${node.variable}}} ${short(node.text)}${to(node.next)}`;
    }
    case 'condition':
      return `${node.id}: condition ${node.branches.map((b) => `if ${b.when}${to(b.next)}`).join('; ')}; else${to(node.else)}`;
    case 'assignment':
      return `${node.id}: set ${Object.entries(node.set)
        .map(([name, value]) => `${name} = ${value}`)
        .join(', ')}${to(node.next)}`;
    case 'end':
      return `${node.id}: end`;
    default:
      return `${node.id}: ${node.type}${to(node.next)}`;
  }
}

/**
 * The definition, compactly: one line per node, except that a run of nodes whose ids differ only by
 * their number (a1, c1, a2, c2, …) shows its first pair and a count.
 */
export function describeFlow(definition: FlowDefinition): string[] {
  const lines = [`start: ${definition.start}`];
  const skipped: string[] = [];
  const flush = () => {
    if (skipped.length === 0) return;
    lines.push(`… ${skipped.length} more nodes like the two above (${skipped[0]} … ${skipped.at(-1)})`);
    skipped.length = 0;
  };
  for (const node of definition.nodes) {
    const numbered = /^[a-z]+(\d+)$/.exec(node.id);
    if (numbered && Number(numbered[1]) > 1) {
      skipped.push(node.id);
      continue;
    }
    flush();
    lines.push(nodeLine(node));
  }
  flush();
  return lines;
}
