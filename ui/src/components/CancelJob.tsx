import { useState } from "react";
import { cancelJob } from "../api/data";
import { apiMessage } from "../api/failure";
import { ErrorAlert } from "./ErrorAlert";

/**
 * The Cancel button of a running job (an upload's processing, an analysis): POST /api/v1/jobs/{id}/cancel.
 * The job ends at once as cancelled; `onCancelled` is told, and says so where the progress was.
 */
export function CancelJob({ jobId, onCancelled }: { jobId: string; onCancelled: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function cancel() {
    setBusy(true);
    setError(null);
    try {
      await cancelJob(jobId);
      onCancelled();
    } catch (failure) {
      setError(apiMessage(failure, "The job could not be cancelled."));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="space-y-2">
      <button type="button" className="btn-quiet" disabled={busy} onClick={() => void cancel()}>
        {busy ? "Cancelling…" : "Cancel"}
      </button>
      <ErrorAlert message={error} />
    </div>
  );
}
