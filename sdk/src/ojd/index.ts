/**
 * Open Job Description (OJD) 2023-09 job templates as Spillway input: `parseJobTemplate`
 * checks a template (YAML or JSON) and names the OJD path of any fault;
 * `instantiateJobTemplate` makes the Spillway jobs and frames of its steps and tasks, ready for
 * `BurstClient.submitFramesInBatches` (what `spillway submit --template` does).
 *
 * ```ts
 * import { readJobTemplate, instantiateJobTemplate } from '@spillway/sdk/ojd';
 * const template = readJobTemplate('render.yaml');
 * for (const { job, frames } of instantiateJobTemplate(template, { source: 'pipeline', parameters: { Frames: '1-100' } })) {
 *   for await (const batch of client.submitFramesInBatches(job, frames)) console.log(batch.jobId);
 * }
 * ```
 */
import * as fs from 'node:fs';
import { parseJobTemplate, TemplateError, type JobTemplate } from './template';

export { formatIntRangeExpr, parseIntRangeExpr } from './range';
export { parseFormatString, type FormatSegment } from './format';
export {
  JOB_TEMPLATE_VERSION,
  parseJobTemplate,
  SUPPORTED_EXTENSIONS,
  TemplateError,
  type Action,
  type EmbeddedFile,
  type Environment,
  type JobParameterDefinition,
  type JobTemplate,
  type ParseJobTemplateOptions,
  type StepTemplate,
  type TaskParameterDefinition,
} from './template';
export {
  chunkValues,
  instantiateJobTemplate,
  MAX_TASKS_PER_STEP,
  type InstantiateOptions,
  type TemplateJob,
} from './instantiate';

/** Reads and checks a template file; a file that cannot be read is a `TemplateError` at `(root)`. */
export function readJobTemplate(file: string): JobTemplate {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new TemplateError(
      '(root)',
      file,
      `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return parseJobTemplate(text, { file });
}
