/** What a stored upload looks like to its owner. */
export interface UploadView {
  key: string;
  size: number;
  content_type: string;
  sha256: string;
  filename: string;
  uploaded_at: string;
}

/** The request facts the gateway passes with an upload body (the body itself is streamed). */
export interface UploadRequestMeta {
  contentLength: string | null;
  contentType: string | null;
  filename: string | null;
  route: string;
}
