/** The way up from a page: a link to the page above, a slash, and what this page shows. */
export function Breadcrumb({ href, label, current }: { href: string; label: string; current?: string | null }) {
  return (
    <p className="text-sm">
      <a className="underline" href={href}>
        {label}
      </a>{" "}
      /{current ? ` ${current}` : ""}
    </p>
  );
}
