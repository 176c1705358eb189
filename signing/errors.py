"""Why the signing services refuse."""

from ota.errors import Conflict, Malformed, Unprocessable


class BundlePathTaken(Conflict):
    code = "bundle_path_taken"
    message = "A bundle with this target path exists already."


class ReleaseCounterNotHigher(Conflict):
    code = "release_counter_not_higher"
    message = "The release counter must be higher than every bundle of this hardware id."


class BundleStateConflict(Conflict):
    code = "bundle_state_conflict"
    message = "The bundle is not in a state that allows this."


class DirectUploadUnavailable(Unprocessable):
    code = "direct_upload_unavailable"
    message = "Direct uploads need S3 bundle storage; upload the file to /manage/bundles instead."


class BundleTooLarge(Malformed):
    code = "bundle_too_large"
    message = "The bundle is larger than OTA_MAX_BUNDLE_BYTES."
