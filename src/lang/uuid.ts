/** Any RFC 4122 UUID, either case: what ids, path parameters and query ids must look like. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
