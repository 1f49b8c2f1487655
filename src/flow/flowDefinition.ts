/**
 * A flow as admins build it (schema: schemas/flow/definition.json; contract: "Flow definitions").
 * Every node has an id, a type, the canvas position the visual builder round-trips, and `next`
 * where the flow goes on (absent: the run ends there). Branching nodes name their other targets.
 */
export type Position = { x: number; y: number };

type NodeBase<Type extends string> = { id: string; type: Type; position?: Position; next?: string };

export type MediaKind = 'image' | 'audio' | 'video' | 'document';

export type ChoiceOption = { id: string; title: string; description?: string; next?: string };

export type QuestionInput =
  | { kind: 'text' | 'number' | 'email' | 'phone' | 'date' }
  | { kind: 'choice'; style?: 'buttons' | 'list'; options: ChoiceOption[]; buttonText?: string };

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type FlowNode =
  | (NodeBase<'text'> & { text: string })
  | (NodeBase<'media'> & { media: { kind: MediaKind; url: string; caption?: string; filename?: string } })
  | (NodeBase<'question'> & {
      text: string;
      variable: string;
      input: QuestionInput;
      retry?: { text: string; max: number };
      onInvalid?: string;
      timeout?: { seconds: number; next: string };
    })
  | (NodeBase<'condition'> & { branches: { when: string; next?: string }[]; else?: string })
  | (NodeBase<'api_call'> & {
      request: {
        method: HttpMethod;
        url: string;
        headers?: Record<string, string>;
        /** A string is sent as is; any other JSON has its strings interpolated and is sent as JSON. */
        body?: unknown;
        timeoutMs?: number;
      };
      /** variable → JSON pointer into the response body. */
      map?: Record<string, string>;
      onError?: string;
    })
  | (NodeBase<'assignment'> & { set: Record<string, string> })
  | (NodeBase<'handoff'> & { queueId?: string; assigneeId?: string; text?: string })
  | (NodeBase<'jump_to_flow'> & { flowId: string })
  | NodeBase<'end'>;

export type FlowNodeType = FlowNode['type'];
export type NodeOf<Type extends FlowNodeType> = Extract<FlowNode, { type: Type }>;

export type FlowDefinition = {
  start: string;
  /** Variables the flow expects from a flow that jumps to it (so validation knows them). */
  variables?: string[];
  nodes: FlowNode[];
};

/** WhatsApp's limits on interactive messages. */
export const maxReplyButtons = 3;
export const maxListRows = 10;
