/**
 * Path mapping for paths a Deadline job carries (`Z:\projects\shot.blend` on a Windows
 * submitter) so they work where the frame runs (`/mnt/projects/shot.blend`): the bridge kit's
 * rules (the SDK's `storage.mapPath`), so bridges and asset sync map paths alike.
 */
export { mapPath, mapPathsInText, type PathRule } from '@spillway/bridge-kit';
