/**
 * A chatbot binds a published flow to a WhatsApp number: its triggers say which inbound message
 * starts a run, its business hours which flow runs (schemas/api/createChatbot.json).
 */
export type KeywordMatch = 'exact' | 'contains' | 'regex';

export type ChatbotTrigger = { type: 'keyword'; value: string; match?: KeywordMatch } | { type: 'default' };

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** Opening hours in the business's time zone; `closedFlowId` runs instead outside them (when set). */
export type BusinessHours = {
  timezone: string;
  /** `from`/`to` as HH:MM, `to` after `from`; a day without an entry is closed. */
  weekly: { day: Weekday; from: string; to: string }[];
  closedFlowId?: string;
};

/** What an admin sets on a chatbot. */
export type ChatbotSettings = {
  name: string;
  channelId: string;
  flowId: string;
  triggers: ChatbotTrigger[];
  businessHours: BusinessHours | null;
  enabled: boolean;
};

export type Chatbot = ChatbotSettings & { id: string };
