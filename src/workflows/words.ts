// Small wording helpers for plans and reports. Workflow-safe: no Node built-ins.

/** "1 key", "3 keys". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
