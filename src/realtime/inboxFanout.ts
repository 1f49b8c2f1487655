import type { ConversationDelta } from './delta.ts';
import { inboxFrame } from './frames.ts';

/** A subscriber limited to their own and their queues' conversations: filtered one by one in JS. */
export interface InboxMember {
  readonly userId: string;
  queueIds: ReadonlySet<string>;
  send(frame: string): void;
}

/** An inbox item, as a delta carries it or the read model answers it. */
export type InboxItem = Record<string, unknown> & { id: string; position: string };

/**
 * Per conversation, the newest position sent: an item at or below it is stale (a duplicate or a
 * reordered delta) and never sent. Bounded: past `limit` conversations the least recently updated
 * half is forgotten, a stale item for those being unlikely after that long.
 */
export class RecentPositions {
  private readonly positions = new Map<string, bigint>();
  constructor(private readonly limit: number) {}

  /** True, and remembered, when `position` is newer than what was sent for the conversation. */
  advance(conversationId: string, position: bigint): boolean {
    const sent = this.positions.get(conversationId);
    if (sent !== undefined && position <= sent) return false;
    this.positions.delete(conversationId);
    this.positions.set(conversationId, position);
    if (this.positions.size > this.limit) {
      let drop = this.positions.size / 2;
      for (const key of this.positions.keys()) {
        if (drop-- <= 0) break;
        this.positions.delete(key);
      }
    }
    return true;
  }

  has(conversationId: string): boolean {
    return this.positions.has(conversationId);
  }
}

type Organization = {
  /** Subscribers who see the whole organization share one native topic: `inbox/<organizationId>`. */
  everything: number;
  everythingSent: RecentPositions;
  restricted: Map<InboxMember, RecentPositions>;
};

/**
 * The `inbox` topic. Users holding `conversations.read_unassigned` see every conversation of their
 * organization: one frame is published natively (uWS pub/sub) on the organization's topic, whatever
 * the number of subscribers. Agents without it get an item when its audience (the delta's assignees
 * and queues, before and after the event) names them or one of their queues.
 */
export class InboxFanout {
  private readonly organizations = new Map<string, Organization>();

  constructor(
    private readonly publish: (topic: string, frame: string) => void,
    private readonly limits = { organization: 100_000, member: 10_000 },
  ) {}

  static topicOf(organizationId: string): string {
    return `inbox/${organizationId}`;
  }

  /** Adds a subscriber of the whole organization; subscribe its socket to the returned topic. */
  addEverything(organizationId: string): string {
    this.organization(organizationId).everything += 1;
    return InboxFanout.topicOf(organizationId);
  }

  removeEverything(organizationId: string): void {
    const organization = this.organizations.get(organizationId);
    if (!organization) return;
    organization.everything -= 1;
    this.forgetIfUnused(organizationId, organization);
  }

  addRestricted(organizationId: string, member: InboxMember): void {
    this.organization(organizationId).restricted.set(member, new RecentPositions(this.limits.member));
  }

  removeRestricted(organizationId: string, member: InboxMember): void {
    const organization = this.organizations.get(organizationId);
    if (!organization?.restricted.delete(member)) return;
    this.forgetIfUnused(organizationId, organization);
  }

  /** Whether anyone on this node follows the organization's inbox. */
  follows(organizationId: string): boolean {
    return this.organizations.has(organizationId);
  }

  /**
   * Sends a delta's inbox item to whoever may see it; answers `published` when it went out on the
   * organization's native topic, `sent` when only to subscribers filtered here, null when to nobody.
   */
  route(delta: ConversationDelta): 'published' | 'sent' | null {
    const inbox = delta.inbox;
    if (!inbox) return null;
    const organization = this.organizations.get(delta.organizationId);
    if (!organization) return null;
    const position = BigInt(delta.position);
    let frame: string | undefined;
    let published = false;
    if (organization.everything > 0 && organization.everythingSent.advance(delta.conversationId, position)) {
      frame = inboxFrame(delta, inbox.item);
      this.publish(InboxFanout.topicOf(delta.organizationId), frame);
      published = true;
    }
    const { assigneeIds, queueIds } = inbox.audience;
    for (const [member, sent] of organization.restricted) {
      const sees =
        assigneeIds.includes(member.userId) || queueIds.some((queueId) => member.queueIds.has(queueId));
      if (sees && sent.advance(delta.conversationId, position)) {
        frame ??= inboxFrame(delta, inbox.item);
        member.send(frame);
      }
    }
    if (published) return 'published';
    return frame === undefined ? null : 'sent';
  }

  /**
   * After deltas may have been lost: the item as the read model has it now, sent like a delta's to
   * the organization's subscribers that see it, or saw it before (so they learn it left their view).
   */
  resend(organizationId: string, item: InboxItem, event: { type: string; occurredAt: string }): boolean {
    const delta: ConversationDelta = {
      organizationId,
      conversationId: item.id,
      position: item.position,
      previous: null,
      event: { type: event.type, data: null, occurredAt: event.occurredAt },
      inbox: null,
    };
    const organization = this.organizations.get(organizationId);
    if (!organization) return false;
    const position = BigInt(item.position);
    let frame: string | undefined;
    let published = false;
    if (organization.everything > 0 && organization.everythingSent.advance(item.id, position)) {
      frame = inboxFrame(delta, item);
      this.publish(InboxFanout.topicOf(organizationId), frame);
      published = true;
    }
    for (const [member, sent] of organization.restricted) {
      const sees =
        item.assigneeId === member.userId ||
        (typeof item.queueId === 'string' && member.queueIds.has(item.queueId)) ||
        sent.has(item.id);
      if (sees && sent.advance(item.id, position)) {
        frame ??= inboxFrame(delta, item);
        member.send(frame);
      }
    }
    return published;
  }

  private organization(organizationId: string): Organization {
    let organization = this.organizations.get(organizationId);
    if (!organization) {
      organization = {
        everything: 0,
        everythingSent: new RecentPositions(this.limits.organization),
        restricted: new Map(),
      };
      this.organizations.set(organizationId, organization);
    }
    return organization;
  }

  private forgetIfUnused(organizationId: string, organization: Organization): void {
    if (organization.everything <= 0 && organization.restricted.size === 0) {
      this.organizations.delete(organizationId);
    }
  }
}
