/** A `vafa` subcommand (cli/main.ts dispatches to them; bench/main.ts is one). */
export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}
