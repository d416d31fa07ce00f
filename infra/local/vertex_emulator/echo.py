"""The request as an output line echoes it: rewritten, as the real service does, not copied.

Google's published sample output of a Gemini batch job from Cloud Storage shows what the service
does to the request it echoes: every part gets both `file_data` and `text` (null when the part had
none), a `fileData` part comes back as `file_data` with `file_uri`/`mime_type`, and object keys come
back in sorted order (`parts` before `role`). Code that reuses the echo as a new input line therefore
sends a different request; the emulator makes that visible in tests. Where the sample says nothing
(other part kinds, camelCase elsewhere), fields keep their names and only their order changes.
"""

# Part fields the sample shows renamed, and what their members become.
_RENAMED_PARTS = {"fileData": "file_data", "inlineData": "inline_data"}
_RENAMED_MEMBERS = {"fileUri": "file_uri", "mimeType": "mime_type", "displayName": "display_name"}
# Every part of the echo carries these, null when the part had none.
_ALWAYS = ("file_data", "text")


def echoed(request):
    """The request as it appears in the `request` member of an output line."""
    if not isinstance(request, dict):
        return request
    out = dict(request)
    if isinstance(out.get("contents"), list):
        out["contents"] = [_content(content) for content in out["contents"]]
    if isinstance(out.get("systemInstruction"), dict):
        out["systemInstruction"] = _content(out["systemInstruction"])
    return sorted_keys(out)


def _content(content):
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return content
    return {**content, "parts": [_part(part) for part in content["parts"]]}


def _part(part):
    if not isinstance(part, dict):
        return part
    out = {}
    for name, value in part.items():
        if name in _RENAMED_PARTS and isinstance(value, dict):
            out[_RENAMED_PARTS[name]] = {_RENAMED_MEMBERS.get(k, k): v for k, v in value.items()}
        else:
            out[name] = value
    for name in _ALWAYS:
        out.setdefault(name, None)
    return out


def sorted_keys(value):
    """Object keys in sorted order, at every depth (list order is kept)."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value
