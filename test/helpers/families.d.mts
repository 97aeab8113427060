export const families: string[];
