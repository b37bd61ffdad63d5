// matchmesh: stand-in for ankerl::unordered_dense (header-only, v4.8.1 API
// subset used by mediasoup 3.27), mapped onto Abseil's Swiss tables from
// Debian's libabsl-dev. Debian does not package martinus/unordered_dense.
//
// Provided:
//   ankerl::unordered_dense::map<Key, T, Hash, KeyEqual>  -> absl::flat_hash_map
//   ankerl::unordered_dense::set<Key, Hash, KeyEqual>     -> absl::flat_hash_set
//   ankerl::unordered_dense::hash<T>                      -> 64-bit avalanching hash
//
// Differences that matter (and why the wrappers exist):
//   * absl's erase(iterator) returns void; unordered_dense (like std::) returns
//     the iterator to continue from. mediasoup uses `it = m.erase(it)`, so
//     map/set add an erase(iterator) that returns the next element. absl never
//     rehashes on erase, so the iterator taken before erasing stays valid.
//   * Iteration order differs from unordered_dense (which iterates in insertion
//     order until an erase). Nothing here, nor in mediasoup, may rely on it.
//   * References/iterators are invalidated by inserts (same as unordered_dense).
#ifndef MATCHMESH_ANKERL_UNORDERED_DENSE_SHIM_H
#define MATCHMESH_ANKERL_UNORDERED_DENSE_SHIM_H

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#define ANKERL_UNORDERED_DENSE_VERSION_MAJOR 4
#define ANKERL_UNORDERED_DENSE_VERSION_MINOR 8
#define ANKERL_UNORDERED_DENSE_VERSION_PATCH 1
#define ANKERL_UNORDERED_DENSE_MATCHMESH_ABSL_SHIM 1

namespace ankerl::unordered_dense {

namespace detail {

// Same mixer as unordered_dense's wyhash::hash(uint64_t): 128-bit multiply by
// the golden ratio, fold the halves.
inline std::uint64_t mix64(std::uint64_t x) noexcept
{
	const __uint128_t r = static_cast<__uint128_t>(x) * 0x9E3779B97F4A7C15ULL;
	return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64U);
}

} // namespace detail

// ankerl::unordered_dense::hash<T>: used by mediasoup both as a standalone
// per-field hash (combined manually) and as a container Hash parameter.
template<class T, class Enable = void>
struct hash
{
	using is_avalanching = void;

	std::uint64_t operator()(const T& obj) const
	  noexcept(noexcept(absl::Hash<T>{}(std::declval<const T&>())))
	{
		return static_cast<std::uint64_t>(absl::Hash<T>{}(obj));
	}
};

template<class T>
struct hash<T, std::enable_if_t<std::is_integral_v<T> || std::is_enum_v<T>>>
{
	using is_avalanching = void;

	std::uint64_t operator()(const T& obj) const noexcept
	{
		if constexpr (std::is_enum_v<T>)
		{
			return detail::mix64(
			  static_cast<std::uint64_t>(static_cast<std::underlying_type_t<T>>(obj)));
		}
		else
		{
			return detail::mix64(static_cast<std::uint64_t>(obj));
		}
	}
};

template<class T>
struct hash<T*>
{
	using is_avalanching = void;

	std::uint64_t operator()(T* ptr) const noexcept
	{
		return detail::mix64(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(ptr)));
	}
};

template<class T>
struct hash<std::unique_ptr<T>>
{
	using is_avalanching = void;

	std::uint64_t operator()(const std::unique_ptr<T>& ptr) const noexcept
	{
		return hash<T*>{}(ptr.get());
	}
};

template<class T>
struct hash<std::shared_ptr<T>>
{
	using is_avalanching = void;

	std::uint64_t operator()(const std::shared_ptr<T>& ptr) const noexcept
	{
		return hash<T*>{}(ptr.get());
	}
};

namespace detail {

// Default container hashing: Abseil's own defaults (fast, good distribution,
// heterogeneous lookup for strings).
template<class Key>
using default_hash = absl::container_internal::hash_default_hash<Key>;
template<class Key>
using default_eq = absl::container_internal::hash_default_eq<Key>;

} // namespace detail

template<
  class Key,
  class T,
  class Hash      = detail::default_hash<Key>,
  class KeyEqual  = detail::default_eq<Key>,
  class Allocator = std::allocator<std::pair<const Key, T>>>
class map : public absl::flat_hash_map<Key, T, Hash, KeyEqual, Allocator>
{
	using base = absl::flat_hash_map<Key, T, Hash, KeyEqual, Allocator>;

public:
	using typename base::const_iterator;
	using typename base::iterator;
	using typename base::size_type;

	using base::base;
	map() = default;

	using base::erase;

	// std-style: erase and return the iterator to the next element.
	iterator erase(iterator it)
	{
		iterator next = std::next(it);
		base::erase(it);
		return next;
	}
};

template<
  class Key,
  class Hash      = detail::default_hash<Key>,
  class KeyEqual  = detail::default_eq<Key>,
  class Allocator = std::allocator<Key>>
class set : public absl::flat_hash_set<Key, Hash, KeyEqual, Allocator>
{
	using base = absl::flat_hash_set<Key, Hash, KeyEqual, Allocator>;

public:
	using typename base::const_iterator;
	using typename base::iterator;
	using typename base::size_type;

	using base::base;
	set() = default;

	using base::erase;

	iterator erase(iterator it)
	{
		iterator next = std::next(it);
		base::erase(it);
		return next;
	}
};

} // namespace ankerl::unordered_dense

#endif // MATCHMESH_ANKERL_UNORDERED_DENSE_SHIM_H
