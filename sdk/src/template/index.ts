/** Frame-token substitution (OpenCue's token names). */
export { frameTokens, renderCommand, type FrameContext } from './tokens';
