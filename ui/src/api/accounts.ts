// API keys (/api/v1/api-keys) and users (/api/v1/users) of the signed-in user's organisation.
import { api, errorFrom } from "./client";
import type { Me } from "./me";

export type Role = Me["role"];
export const ROLES: Role[] = ["viewer", "analyst", "admin"]; // lowest first

/** The roles at most as strong as `ceiling`. */
export function rolesUpTo(ceiling: Role): Role[] {
  return ROLES.slice(0, ROLES.indexOf(ceiling) + 1);
}

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  expires_at: string | null;
  status: "active" | "revoked" | "expired";
}

export interface NewApiKey {
  id: string;
  name: string;
  role: Role;
  key: string;
  created_at: string;
  expires_at: string | null;
}

export interface User {
  id: string;
  email: string;
  role: Role;
  organization: string | null;
  disabled: boolean;
  created_at: string;
}

function unwrap<T>(result: { data?: unknown; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) throw errorFrom(result.response.status, result.error);
  return (result.data as { data: T }).data;
}

export async function listKeys(): Promise<ApiKey[]> {
  return unwrap<{ items: ApiKey[] }>(await api.GET("/api/v1/api-keys")).items;
}

export async function createKey(name: string, role: Role, expiresAt: string | null): Promise<NewApiKey> {
  return unwrap<NewApiKey>(await api.POST("/api/v1/api-keys", { body: { name, role, expires_at: expiresAt } }));
}

export async function revokeKey(id: string): Promise<ApiKey> {
  return unwrap<ApiKey>(await api.DELETE("/api/v1/api-keys/{api_key_id}", { params: { path: { api_key_id: id } } }));
}

export async function listUsers(): Promise<User[]> {
  return unwrap<{ items: User[] }>(await api.GET("/api/v1/users", { params: { query: { limit: 500 } } })).items;
}

export async function createUser(email: string, password: string, role: Role): Promise<User> {
  return unwrap<User>(await api.POST("/api/v1/users", { body: { email, password, role } }));
}

export async function updateUser(id: string, change: { role?: Role; disabled?: boolean }): Promise<User> {
  return unwrap<User>(await api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: id } }, body: change }));
}

export async function deleteUser(id: string): Promise<void> {
  unwrap<unknown>(await api.DELETE("/api/v1/users/{user_id}", { params: { path: { user_id: id } } }));
}
