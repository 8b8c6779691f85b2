/**
 * Turns a benchmark-only TypeScript entry point (the reference broadcaster, the bare AMQP
 * consumer) into plain JavaScript under .tmp/bench, so those processes run without a loader,
 * like the services' built dist/ does. Imports of workspace packages resolve to their dist/.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { TMP_DIR } from './paths.js';

export function transpileEntry(sourceFile: string): string {
  const out = path.join(TMP_DIR, path.basename(sourceFile).replace(/\.ts$/, '.mjs'));
  const { outputText } = ts.transpileModule(fs.readFileSync(sourceFile, 'utf8'), {
    fileName: sourceFile,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  });
  fs.mkdirSync(TMP_DIR, { recursive: true });
  fs.writeFileSync(out, outputText);
  return out;
}
