/** A failure in plain words, announced as an alert; nothing when there is none. */
export function ErrorAlert({ message, className = "" }: { message: string | null | undefined; className?: string }) {
  if (!message) return null;
  return (
    <p role="alert" className={className ? `alert ${className}` : "alert"}>
      {message}
    </p>
  );
}
