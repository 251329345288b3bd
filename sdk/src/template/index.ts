/** Frame-token substitution (OpenCue's token names). */
export { frameTokens, renderCommand, type FrameContext } from './tokens';
export { isBareWord, scanShell, shellQuote, type ShellContext } from './shell';
