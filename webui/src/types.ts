/**
 * The JSON the /api routes answer with and accept, as the page reads it: the
 * server's own definitions (firmware/api/index.ts), which the routes and the
 * `pbx` commands are built against. That file imports nothing, so the page's
 * type-check and bundle see no node:*, zod or forge; restating a shape here
 * instead would let the two sides drift apart unnoticed.
 */
export type * from '../../firmware/api/index.js';
