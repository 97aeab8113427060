/** One non-empty line of a text file, 1-based: what the line-oriented readers take. */
export interface TextLine {
  text: string;
  line: number;
}
