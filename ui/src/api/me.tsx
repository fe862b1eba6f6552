// Who is signed in, and what their role lets them do: one GET /api/v1/me per session, shared by every page.
// Pages hide what the role cannot do (the API refuses it anyway).
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { api, errorFrom } from "./client";

export type Permission = "read" | "write" | "manage_keys" | "manage_users" | "read_audit";

export interface Me {
  user_id: string;
  email: string;
  role: "admin" | "analyst" | "viewer";
  organization_id: string;
  organization: string | null;
  permissions: Permission[];
}

export async function fetchMe(): Promise<Me> {
  const { data, error, response } = await api.GET("/api/v1/me");
  if (error !== undefined || !response.ok) throw errorFrom(response.status, error);
  return (data as { data: Me }).data;
}

const MeContext = createContext<Me | null>(null);

/** Provides the signed-in user to the pages; `me` may be given directly (tests). */
export function MeProvider({ children, me: given }: { children: ReactNode; me?: Me }) {
  const [me, setMe] = useState<Me | null>(given ?? null);
  useEffect(() => {
    if (given) return;
    let live = true;
    fetchMe()
      .then((m) => live && setMe(m))
      .catch(() => undefined); // a failed /me leaves every guarded control hidden; authFetch handles 401
    return () => {
      live = false;
    };
  }, [given]);
  return <MeContext.Provider value={me}>{children}</MeContext.Provider>;
}

/** The signed-in user, or null while /me loads. */
export function useMe(): Me | null {
  return useContext(MeContext);
}

/** Whether the signed-in user may do this; false until /me has answered. */
export function useCan(permission: Permission): boolean {
  return useMe()?.permissions.includes(permission) ?? false;
}
