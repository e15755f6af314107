import type { Plugin } from 'esbuild';
export declare const lazyStreams: Plugin;
export declare const streamsFromNode: Plugin;
/** Keep equal to SHARED_NAMES in streams-build.mjs. */
export type SharedName =
  | 'encode' | 'encodeInto' | 'appId' | 'appKey' | 'checkApp' | 'isAppId' | 'decodeCbor' | 'isBytes' | 'isString' | 'isUint' | 'BoundedMap'
  | 'isMeshError' | 'MeshError' | 'idFromText' | 'checkPort' | 'safeCall' | 'MAX_PORT' | 'TAB_CREDIT_BYTES';
export declare const SHARED_NAMES: readonly SharedName[];
