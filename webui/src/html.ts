import htm from 'htm';
import { h, type VNode } from 'preact';

/**
 * The page's one template tag: htm bound to Preact's h. A template with one
 * root element gives a VNode, one with several gives an array of them; both
 * are valid Preact children. (htm cannot check what goes inside a template.)
 */
export const html = htm.bind<VNode>(h);

/** What a template (and so every component of this page) yields. */
export type Html = ReturnType<typeof html>;
