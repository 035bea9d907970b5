// The Digital Bazaar packages the tests check certmark against ship JavaScript only: the little of
// them the tests use, typed.
declare module '@digitalbazaar/credentials-context' {
  /** W3C context documents by their URL. */
  export const contexts: Map<string, unknown>;
}

declare module '@digitalbazaar/vc-bitstring-status-list' {
  export interface BitstringStatusList {
    length: number;
    getStatus(index: number): boolean;
    setStatus(index: number, status: boolean): void;
    encode(): Promise<string>;
  }
  export function decodeList(options: { encodedList: string }): Promise<BitstringStatusList>;
  export function createList(options: { length: number }): Promise<BitstringStatusList>;
}
